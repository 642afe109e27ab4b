/**
 * Control messages between gates (on `gatehouse.g.<gate>.ctl`): a push to a gate's clients, and
 * a user binding, unbinding or kick of one of them. A client of this gate is served by the same
 * functions as a single gate's (local_router.ts); one of another gate gets a message on that
 * gate's control subject, one message per gate for a push to many clients.
 *
 * @module
 */

import {
  type Msg,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import { gateOfClient } from "./cluster_ids.ts";
import { controlSubject } from "./cluster_subjects.ts";
import {
  bindLocal,
  kickLocal,
  type LocalSessions,
  pushLocal,
  unbindLocal,
} from "./local_router.ts";
import type { Binding } from "./router.ts";

/** A control message. */
export type ControlMessage =
  | { op: "push"; clientIds: number[]; text: string }
  | { op: "bind"; clientId: number; userId: number; token?: string; username?: string }
  | { op: "unbind"; clientId: number; userId: number }
  | { op: "kick"; clientId: number; reason: string };

/**
 * Runs a control message from another gate on this gate's sessions; returns whether it took
 * effect (a push: undefined, it is not answered).
 */
export function runControl(local: LocalSessions, message: ControlMessage): boolean | undefined {
  switch (message?.op) {
    case "push":
      if (Array.isArray(message.clientIds) && typeof message.text === "string") {
        pushLocal(local, message.clientIds, message.text);
      }
      return undefined;
    case "bind":
      if (message.username !== undefined && typeof message.username !== "string") return false;
      return bindLocal(local, message);
    case "unbind":
      return unbindLocal(local, message);
    case "kick":
      return kickLocal(local, message);
  }
  return false;
}

/** Options of {@linkcode GateControl}. */
export interface GateControlOptions {
  /** This gate's number. */
  gate: number;
  local: LocalSessions;
  log: Logger;
  /** How long a bind, unbind or kick waits for the other gate (at most 2 s). */
  requestTimeoutMs: number;
}

/** Push, bind, unbind and kick for a client of any gate. */
export class GateControl {
  #options: GateControlOptions;
  #nc?: NatsConnection;
  #connected = false;

  constructor(options: GateControlOptions) {
    this.#options = options;
  }

  /** Hears this gate's control subject on a (new) NATS connection. */
  attach(nc: NatsConnection): void {
    this.#nc = nc;
    nc.subscribe(controlSubject(this.#options.gate), {
      callback: (_error, msg) => this.#onControl(msg),
    });
  }

  /** Whether NATS is connected now (else other gates' clients are unreachable). */
  set connected(connected: boolean) {
    this.#connected = connected;
  }

  /** Sends one push text to clients of any gate; returns how many were reached or sent on. */
  push(clientIds: number[], text: string): number {
    const byGate = new Map<number, number[]>();
    for (const id of clientIds) {
      const gate = gateOfClient(id);
      let ids = byGate.get(gate);
      if (!ids) byGate.set(gate, ids = []);
      ids.push(id);
    }
    const self = this.#options.gate;
    let reached = pushLocal(this.#options.local, byGate.get(self) ?? [], text);
    byGate.delete(self);
    for (const [gate, ids] of byGate) {
      if (!this.#nc || !this.#connected) break;
      const message: ControlMessage = { op: "push", clientIds: ids, text };
      this.#nc.publish(controlSubject(gate), JSON.stringify(message));
      reached += ids.length;
    }
    return reached;
  }

  /** Binds a user to a client of any gate. */
  bind(binding: Binding): Promise<boolean> {
    return this.#run({ op: "bind", ...binding });
  }

  /** Unbinds a user from a client of any gate when it is bound to that user. */
  unbind(binding: { clientId: number; userId: number }): Promise<boolean> {
    return this.#run({ op: "unbind", ...binding });
  }

  /** Kicks a client of any gate. */
  kick(kick: { clientId: number; reason: string }): Promise<boolean> {
    return this.#run({ op: "kick", ...kick });
  }

  /** Runs a bind, unbind or kick here or asks the client's gate. */
  #run(message: Exclude<ControlMessage, { op: "push" }>): Promise<boolean> {
    const gate = gateOfClient(message.clientId);
    if (gate === this.#options.gate) return Promise.resolve(this.#runHere(message) === true);
    return this.#ask(gate, message);
  }

  #onControl(msg: Msg): void {
    let message: ControlMessage;
    try {
      message = msg.json<ControlMessage>();
    } catch {
      return;
    }
    const result = this.#runHere(message);
    if (msg.reply && result !== undefined) msg.respond(JSON.stringify({ ok: result }));
  }

  /** Runs a control message on this gate's sessions (see {@linkcode runControl}). */
  #runHere(message: ControlMessage): boolean | undefined {
    return runControl(this.#options.local, message);
  }

  async #ask(gate: number, message: ControlMessage): Promise<boolean> {
    if (!this.#nc || !this.#connected) return false;
    try {
      const reply = await this.#nc.request(controlSubject(gate), JSON.stringify(message), {
        timeout: Math.min(2000, this.#options.requestTimeoutMs),
      });
      return reply.json<{ ok: boolean }>().ok === true;
    } catch (error) {
      if (!isNoResponders(error) && !(error instanceof TimeoutError)) {
        this.#options.log.warn("cluster control failed", { gate, op: message.op, error });
      }
      return false;
    }
  }
}

/** Whether a NATS request failed because no one subscribes to the subject. */
function isNoResponders(error: unknown): boolean {
  return error instanceof NoRespondersError ||
    (error instanceof RequestError && error.isNoResponders());
}
