/**
 * One session per account across N login instances: the session registry in a JetStream KV
 * bucket (`gatehouse_sessions`), written by compare-and-set. The single-machine registry is
 * `sessions.ts`; this one keeps its rules (unbind first, kick only on the gate's confirmation)
 * for logins handled by any instance on any gate. Kicks and bindings go through the gate, which
 * routes a cluster clientId to the gate it carries.
 *
 * One entry per account, key = userId, value {@linkcode SessionEntry}:
 * - **Settled** (no `claim`): `clientId` is the account's bound connection.
 * - **Claimed**: instance `instance` is working on the account (a login, a logout). The account's
 *   work (token writes, unbind, bind: the login service's turn) runs inside the claim, so that
 *   the connection left bound is the one whose token is still valid, whichever instance handled
 *   each login. Before it binds a connection, the instance adds it to `claim.loose`; so an
 *   instance that dies mid-login leaves behind every connection it may have bound.
 *
 * A turn: (1) claim by compare-and-set over the settled entry (or create it); a live claim of
 * another instance is waited for. The claimant rewrites its claim every second; a claim that has
 * not moved for {@linkcode CLAIM_LAPSE_MS} belongs to a dead instance and is taken over, its
 * loose connections with it. (2) The work; `bind` unbinds the earlier connection and the loose
 * ones at their gates (the earlier one is pushed `sc_msg_kicked` when its gate confirms it was
 * bound), then binds. (3) Settle by compare-and-set on the claim's revision: the bound
 * connection, or no entry. When the settle finds its claim taken over (this instance stalled
 * past the lapse), it unbinds the connection it bound and the login fails: the instance that
 * took over holds the account. So at most one connection stays bound, even across a SIGKILL.
 *
 * A client that leaves (`ss_msg_client_leave`, heard by every instance) removes its settled
 * entry; so does its gate going down (`ss_msg_gate_down`). An entry left stale (its connection
 * gone unheard) costs the next login of the account one unbind that the gate answers "not
 * bound". Deleted keys leave a small marker each (NATS 2.9 keeps them): at most one per account.
 *
 * @example
 * ```ts ignore
 * const sessions = await KvSessions.open({ nc, gate: serviceClient, log, instance: "login-1" });
 * await sessions.turn(7, () => sessions.bind({ userId: 7, clientId: 12, token }));
 * ```
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { ServiceError } from "../../client/mod.ts";
import { GateCmd, type GateDown, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { isWrongRevision, kvBuckets } from "./cluster_kv.ts";
import { KeyedLock } from "./keyed_lock.ts";
import {
  type BindResult,
  KICK_REASON,
  type SessionGate,
  type SessionRegistry,
} from "./sessions.ts";
import { createShared } from "../shared_streams.ts";

/** The bucket of the session registry. */
export const SESSIONS_BUCKET = "gatehouse_sessions";
/** A claim that has not moved for this long belongs to a dead instance and is taken over. */
export const CLAIM_LAPSE_MS = 3000;
/** How often a claimant rewrites its claim while it works. */
const CLAIM_REFRESH_MS = 1000;
/** Longest wait for other instances' claims before the login gives up (under the gate's timeout). */
const MAX_CLAIM_WAIT_MS = 8000;
/** Loose connections an entry lists at most. */
const MAX_LOOSE = 16;

/** What the registry holds for one account. */
export interface SessionEntry {
  /** The bound connection (0: none). */
  clientId: number;
  /** The instance that wrote the entry. */
  instance: string;
  /** While an instance works on the account: the connections it may have bound. */
  claim?: { loose: number[] };
}

/** Options of {@linkcode KvSessions.open}. */
export interface KvSessionsOptions {
  nc: NatsConnection;
  gate: SessionGate;
  log: Logger;
  /** This instance's name (`--name`). */
  instance: string;
  /** {@linkcode CLAIM_LAPSE_MS} unless given (tests). */
  lapseMs?: number;
}

/** A claim this instance holds on an account. */
interface Claim {
  key: string;
  revision: number;
  entry: SessionEntry;
  /** Set once the claim was found taken over. */
  lost: boolean;
  /** The connection bound in this turn, or 0 once it was unbound (`end`). */
  bound?: number;
  /** Writes to the entry run one after the other. */
  writes: Promise<void>;
}

/** The session registry shared by login instances through NATS KV. */
export class KvSessions implements SessionRegistry {
  #kv: KV;
  #gate: SessionGate;
  #log: Logger;
  #instance: string;
  #lapseMs: number;
  #turns = new KeyedLock<number>();
  #held = new Map<number, Claim>();

  private constructor(kv: KV, options: KvSessionsOptions) {
    this.#kv = kv;
    this.#gate = options.gate;
    this.#log = options.log;
    this.#instance = options.instance;
    this.#lapseMs = options.lapseMs ?? CLAIM_LAPSE_MS;
  }

  /** Opens (creating when absent) the registry's bucket. */
  static async open(options: KvSessionsOptions): Promise<KvSessions> {
    const kv = await createShared(() =>
      kvBuckets(options.nc).create(SESSIONS_BUCKET, { history: 1 })
    );
    return new KvSessions(kv, options);
  }

  /** The entry of an account, as stored. */
  async entry(userId: number): Promise<SessionEntry | undefined> {
    const found = await this.#kv.get(String(userId));
    return found && found.operation === "PUT" ? parseEntry(found.string()) : undefined;
  }

  /**
   * Runs `work` as the only work on `userId` in the cluster (see the module text). Throws
   * `SERVER_BUSY` when the registry cannot be reached or another instance's claim outlasts the
   * wait, `FAIL` when this claim was taken over meanwhile.
   */
  turn<T>(userId: number, work: () => Promise<T>): Promise<T> {
    return this.#turns.run(userId, async () => {
      const claim = await this.#acquire(userId);
      this.#held.set(userId, claim);
      const refresh = setInterval(() => this.#write(claim, claim.entry), CLAIM_REFRESH_MS);
      let result: T;
      try {
        result = await work();
      } catch (error) {
        clearInterval(refresh);
        this.#held.delete(userId);
        await this.#settle(claim).catch(() => {});
        throw error;
      }
      clearInterval(refresh);
      this.#held.delete(userId);
      await this.#settle(claim);
      return result;
    });
  }

  /**
   * Makes `clientId` the only session of `userId`: in the account's turn (taken here when not
   * held), unbinds the earlier and loose connections at their gates, kicks the earlier one when
   * its gate confirms it was bound, then binds `clientId`.
   */
  bind(
    binding: { userId: number; clientId: number; token: string; username?: string },
  ): Promise<BindResult> {
    const claim = this.#held.get(binding.userId);
    if (!claim) return this.turn(binding.userId, () => this.bind(binding));
    return this.#bindIn(claim, binding);
  }

  /** Ends a user's session: unbinds `clientId` and the account's recorded connection. */
  end(binding: { userId: number; clientId: number }): Promise<boolean> {
    const claim = this.#held.get(binding.userId);
    if (!claim) return this.turn(binding.userId, () => this.end(binding));
    return this.#endIn(claim, binding);
  }

  /** A client left its gate: its settled entry goes (every instance hears it; one wins). */
  clientLeft(leave: { clientId: number; userId: number }): void {
    if (!(leave.userId > 0)) return;
    this.#dropIf(String(leave.userId), (entry) => entry.clientId === leave.clientId)
      .catch((error) => this.#log.warn("session registry unreachable", { error }));
  }

  /** A gate went down: the settled entries of its clients go. */
  gateDown(down: GateDown): void {
    const inRange = (id: number) => id >= down.fromClientId && id < down.toClientId;
    this.#log.info("gate down: dropping its sessions", { gate: down.gate });
    (async () => {
      let dropped = 0;
      for await (const key of await this.#kv.keys()) {
        if (await this.#dropIf(key, (entry) => inRange(entry.clientId))) dropped++;
      }
      this.#log.info("gate down: sessions dropped", { gate: down.gate, sessions: dropped });
    })().catch((error) => this.#log.warn("session registry unreachable", { error }));
  }

  /** Deletes a settled entry that `matches`, by compare-and-set; resolves with whether it did. */
  async #dropIf(key: string, matches: (entry: SessionEntry) => boolean): Promise<boolean> {
    const found = await this.#kv.get(key);
    if (!found || found.operation !== "PUT") return false;
    const entry = parseEntry(found.string());
    if (!entry || entry.claim || !matches(entry)) return false;
    try {
      await this.#kv.delete(key, { previousSeq: found.revision });
      return true;
    } catch (error) {
      if (isWrongRevision(error)) return false;
      throw error;
    }
  }

  async #bindIn(
    claim: Claim,
    binding: { userId: number; clientId: number; token: string; username?: string },
  ): Promise<BindResult> {
    const { userId, clientId } = binding;
    const previous = claim.bound ?? claim.entry.clientId;
    const loose = claim.entry.claim!.loose.filter((id) => id !== clientId && id !== previous);
    // Recorded before the gate binds it: an instance that takes the claim over unbinds it.
    await this.#write(claim, {
      ...claim.entry,
      claim: { loose: unique([...claim.entry.claim!.loose, clientId]) },
    }, { strict: true });
    let kicked: number | undefined;
    if (previous > 0 && previous !== clientId) {
      if (await this.#gate.unbindUser({ clientId: previous, userId })) {
        await this.#gate.push([previous], GateCmd.KICKED, { reason: KICK_REASON });
        kicked = previous;
        this.#log.info("session kicked", { userId, clientId: previous, by: clientId });
      }
    }
    await this.#unbindLoose(userId, loose);
    const bound = await this.#gate.bindUser(binding);
    claim.bound = bound ? clientId : 0;
    return { bound, kicked };
  }

  async #endIn(claim: Claim, binding: { userId: number; clientId: number }): Promise<boolean> {
    const { userId, clientId } = binding;
    const recorded = claim.bound ?? claim.entry.clientId;
    const others = [recorded, ...claim.entry.claim!.loose].filter((id) =>
      id > 0 && id !== clientId
    );
    await this.#unbindLoose(userId, unique(others));
    claim.bound = 0;
    return await this.#gate.unbindUser({ clientId, userId });
  }

  async #unbindLoose(userId: number, clientIds: number[]): Promise<void> {
    for (const clientId of clientIds) {
      if (await this.#gate.unbindUser({ clientId, userId })) {
        this.#log.warn("loose session unbound", { userId, clientId });
      }
    }
  }

  /** Claims an account: waits out another instance's live claim, takes over a lapsed one. */
  async #acquire(userId: number): Promise<Claim> {
    const key = String(userId);
    const deadline = Date.now() + MAX_CLAIM_WAIT_MS;
    let watched: { revision: number; since: number } | undefined;
    let pause = 2;
    while (true) {
      const found = await this.#registry(() => this.#kv.get(key));
      const current = found && found.operation === "PUT" ? parseEntry(found.string()) : undefined;
      let entry: SessionEntry;
      if (current?.claim) {
        if (watched?.revision !== found!.revision) {
          watched = { revision: found!.revision, since: Date.now() };
        }
        if (Date.now() - watched.since < this.#lapseMs) {
          if (Date.now() > deadline) {
            throw new ServiceError(
              State.SERVER_BUSY,
              "Another login of this account is still in progress: try again",
            );
          }
          await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
          pause = Math.min(50, pause * 2);
          continue;
        }
        this.#log.warn("lapsed session claim taken over", {
          userId,
          instance: current.instance,
          loose: current.claim.loose.join(","),
        });
        entry = {
          clientId: current.clientId,
          instance: this.#instance,
          claim: { loose: current.claim.loose.slice(-MAX_LOOSE) },
        };
      } else {
        entry = {
          clientId: current?.clientId ?? 0,
          instance: this.#instance,
          claim: { loose: [] },
        };
      }
      try {
        const text = JSON.stringify(entry);
        const revision = await this.#registry(() =>
          found ? this.#kv.update(key, text, found.revision) : this.#kv.create(key, text)
        );
        return { key, revision, entry, lost: false, writes: Promise.resolve() };
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
        // Another instance wrote first: read again.
      }
    }
  }

  /** Ends a claim: the bound connection settled, or the entry deleted. */
  async #settle(claim: Claim): Promise<void> {
    await claim.writes;
    const userId = Number(claim.key);
    const bound = claim.bound ?? claim.entry.clientId;
    if (claim.bound === undefined && claim.entry.claim!.loose.length > 0) {
      // A lapsed claim taken over, and this turn bound nothing: its loose connections go.
      await this.#unbindLoose(userId, claim.entry.claim!.loose.filter((id) => id !== bound));
    }
    try {
      if (!claim.lost) {
        if (bound > 0) {
          const text = JSON.stringify({ clientId: bound, instance: this.#instance });
          await this.#kv.update(claim.key, text, claim.revision);
        } else {
          await this.#kv.delete(claim.key, { previousSeq: claim.revision });
        }
        return;
      }
    } catch (error) {
      if (!isWrongRevision(error)) {
        this.#log.error("session registry unreachable at settle", { userId, error });
        throw registryError();
      }
    }
    // Taken over: the instance holding the claim now decides; what this turn bound goes.
    if (claim.bound) await this.#gate.unbindUser({ clientId: claim.bound, userId });
    this.#log.warn("session claim lost", { userId, clientId: claim.bound });
    throw new ServiceError(
      State.FAIL,
      "Another login of this account took over meanwhile: log in again",
    );
  }

  /** Rewrites the claim (refresh, or with `entry`'s new loose list), in order. */
  #write(claim: Claim, entry: SessionEntry, options: { strict?: boolean } = {}): Promise<void> {
    const write = claim.writes.then(async () => {
      if (claim.lost) return;
      try {
        claim.revision = await this.#kv.update(claim.key, JSON.stringify(entry), claim.revision);
        claim.entry = entry;
      } catch (error) {
        if (isWrongRevision(error)) claim.lost = true;
        else if (options.strict) throw registryError();
        else this.#log.warn("session claim not refreshed", { key: claim.key, error });
      }
    });
    claim.writes = write.catch(() => {});
    return options.strict
      ? write.then(() => {
        if (claim.lost) {
          throw new ServiceError(
            State.FAIL,
            "Another login of this account took over meanwhile: log in again",
          );
        }
      })
      : claim.writes;
  }

  async #registry<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (isWrongRevision(error)) throw error;
      this.#log.error("session registry unreachable", { error });
      throw registryError();
    }
  }
}

function registryError(): ServiceError {
  return new ServiceError(State.SERVER_BUSY, "The session registry cannot be reached: try again");
}

function unique(ids: number[]): number[] {
  return [...new Set(ids)].slice(-MAX_LOOSE);
}

/** A stored entry, or `undefined` when it is not one (written by something else). */
export function parseEntry(text: string): SessionEntry | undefined {
  try {
    const value = JSON.parse(text) as SessionEntry;
    if (!Number.isSafeInteger(value?.clientId) || typeof value.instance !== "string") {
      return undefined;
    }
    if (value.claim !== undefined && !Array.isArray(value.claim?.loose)) return undefined;
    return value;
  } catch {
    return undefined;
  }
}
