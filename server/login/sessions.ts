/**
 * One session per account: which connection (the gate's `clientId`) each logged-in user is
 * bound to, kept in memory as userId → clientId (and back), and the gate calls that go with it.
 *
 * Binding a user who is already bound on another connection first unbinds that connection at
 * the gate (`ss_msg_user_logout`) and, when the gate confirms that it was bound to this user,
 * pushes it `sc_msg_kicked` {reason}; only then is the new connection bound
 * (`ss_msg_user_login`). The kicked connection stays open, so a web page can show why. Unbinding
 * first and kicking only on the gate's confirmation means that an entry gone stale (the gate
 * restarted and a new connection got the old id) never kicks a stranger. Work for one user is
 * serialized, so two logins of one account cannot interleave.
 *
 * What the map cannot know: after the login service restarts it is empty, so a login then does
 * not kick a session bound before the restart; nor does it know the sessions of other login
 * instances. Several instances (`--cluster`) share the registry of `kv_sessions.ts` instead; both
 * implement {@linkcode SessionRegistry}.
 *
 * @example
 * ```ts
 * const sessions = new Sessions({ gate: serviceClient, log });
 * await sessions.bind({ userId: 7, clientId: 12, token });
 * serviceClient.onClientLeave((leave) => sessions.clientLeft(leave));
 * ```
 * @module
 */

import { GateCmd, type GateDown } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { KeyedLock } from "./keyed_lock.ts";

/** The gate calls sessions make; `ServiceClient` has them. */
export interface SessionGate {
  bindUser(
    binding: { clientId: number; userId: number; token?: string; username?: string },
  ): Promise<boolean>;
  unbindUser(binding: { clientId: number; userId: number }): Promise<boolean>;
  push(clientIds: number[], cmd: string, data: unknown): Promise<number>;
}

/**
 * Where the login service keeps who is bound where: {@linkcode Sessions} in memory (one
 * instance), or `KvSessions` in NATS KV (many instances).
 */
export interface SessionRegistry {
  /**
   * Runs `work` (token writes, then `bind` or `end`) as the only work on the account: arrival
   * order within an instance, and across instances for a shared registry.
   */
  turn<T>(userId: number, work: () => Promise<T>): Promise<T>;
  /** Makes `clientId` the only session of `userId`, kicking the earlier one. */
  bind(
    binding: { userId: number; clientId: number; token: string; username?: string },
  ): Promise<BindResult>;
  /** Ends a user's session; resolves with whether the gate unbound `clientId`. */
  end(binding: { userId: number; clientId: number }): Promise<boolean>;
  /** A client left its gate (`ss_msg_client_leave`). */
  clientLeft(leave: { clientId: number; userId: number }): void;
  /** A gate went down (`ss_msg_gate_down`): the sessions of its clients go. */
  gateDown(down: GateDown): void;
}

/** Options of {@linkcode Sessions}. */
export interface SessionsOptions {
  gate: SessionGate;
  log: Logger;
}

/** What {@linkcode Sessions.bind} did. */
export interface BindResult {
  /** Whether the gate bound the user (false when the connection had closed). */
  bound: boolean;
  /** The connection that was kicked, if one was. */
  kicked?: number;
}

/** The reason a kicked connection is given. */
export const KICK_REASON = "Your account logged in on another connection";

/** The single-session bindings of logged-in users, in memory. */
export class Sessions implements SessionRegistry {
  #gate: SessionGate;
  #log: Logger;
  #clientOf = new Map<number, number>();
  #userOf = new Map<number, number>();
  #lock = new KeyedLock<number>();
  #turns = new KeyedLock<number>();

  constructor(options: SessionsOptions) {
    this.#gate = options.gate;
    this.#log = options.log;
  }

  /** Bound users. */
  get size(): number {
    return this.#clientOf.size;
  }

  /** The connection a user is bound to. */
  clientOf(userId: number): number | undefined {
    return this.#clientOf.get(userId);
  }

  /** The user bound to a connection. */
  userOf(clientId: number): number | undefined {
    return this.#userOf.get(clientId);
  }

  /** Runs `work` after the account's earlier work in this process. */
  turn<T>(userId: number, work: () => Promise<T>): Promise<T> {
    return this.#turns.run(userId, work);
  }

  /**
   * Makes `clientId` the only session of `userId`: kicks the user's other connection (see the
   * module text), then binds this one at the gate with `token` and `username`.
   */
  bind(
    binding: { userId: number; clientId: number; token: string; username?: string },
  ): Promise<BindResult> {
    const { userId, clientId } = binding;
    return this.#lock.run(userId, async () => {
      let kicked: number | undefined;
      const previous = this.#clientOf.get(userId);
      if (previous !== undefined && previous !== clientId) {
        this.#forget({ userId, clientId: previous });
        if (await this.#gate.unbindUser({ clientId: previous, userId })) {
          await this.#gate.push([previous], GateCmd.KICKED, { reason: KICK_REASON });
          kicked = previous;
          this.#log.info("session kicked", { userId, clientId: previous, by: clientId });
        }
      }
      // The connection may have been another user's: that user is no longer bound here.
      const other = this.#userOf.get(clientId);
      if (other !== undefined && other !== userId) this.#forget({ userId: other, clientId });
      // Recorded before the gate call, so that a client-leave event that overtakes the answer
      // still removes it.
      this.#clientOf.set(userId, clientId);
      this.#userOf.set(clientId, userId);
      const bound = await this.#gate.bindUser(binding);
      if (!bound) this.#forget({ userId, clientId });
      return { bound, kicked };
    });
  }

  /**
   * Ends a user's session (logout, account deletion): unbinds `clientId` at the gate, and the
   * user's other recorded connection if there is one. Resolves with whether the gate unbound it.
   */
  end(binding: { userId: number; clientId: number }): Promise<boolean> {
    const { userId, clientId } = binding;
    return this.#lock.run(userId, async () => {
      const recorded = this.#clientOf.get(userId);
      this.#forget({ userId, clientId });
      if (recorded !== undefined && recorded !== clientId) {
        this.#forget({ userId, clientId: recorded });
        await this.#gate.unbindUser({ clientId: recorded, userId });
      }
      return await this.#gate.unbindUser({ clientId, userId });
    });
  }

  /** A client left the gate (`ss_msg_client_leave`): its binding goes. */
  clientLeft(leave: { clientId: number; userId: number }): void {
    const userId = this.#userOf.get(leave.clientId);
    if (userId !== undefined) this.#forget({ userId, clientId: leave.clientId });
  }

  /** A gate went down (cluster mode): the bindings of its clients go. */
  gateDown(down: GateDown): void {
    for (const [clientId, userId] of [...this.#userOf]) {
      if (clientId >= down.fromClientId && clientId < down.toClientId) {
        this.#forget({ userId, clientId });
      }
    }
  }

  #forget(binding: { userId: number; clientId: number }): void {
    if (this.#clientOf.get(binding.userId) === binding.clientId) {
      this.#clientOf.delete(binding.userId);
    }
    if (this.#userOf.get(binding.clientId) === binding.userId) {
      this.#userOf.delete(binding.clientId);
    }
  }
}
