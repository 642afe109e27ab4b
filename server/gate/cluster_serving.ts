/**
 * The serving side of cross-gate requests: one NATS subscription per command this gate's links
 * serve (`gatehouse.g.<gate>.c.<cmd>`), whose handler picks among the gate's links. A gate whose
 * links are all at their in-flight limit (or that serves the command no more) replies with a
 * refusal header instead of forwarding, and the requesting gate tries the next.
 *
 * @module
 */

import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { type RequestEnvelope, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { commandSubject, REFUSED_HEADER, STATE_HEADER } from "./cluster_subjects.ts";
import { ANNOUNCE_MS } from "./gate_directory.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";

/** How long a command no longer served keeps its subscription (answering "off"). */
export const UNSUBSCRIBE_AFTER_MS = 3 * ANNOUNCE_MS;

/** Options of {@linkcode ServedCommands}. */
export interface ServedCommandsOptions {
  gate: number;
  dispatcher: LinkDispatcher;
  log: Logger;
}

/** This gate's subscriptions for the commands its links serve. */
export class ServedCommands {
  #options: ServedCommandsOptions;
  #nc?: NatsConnection;
  /** Command → this gate's subscription for it. */
  #served = new Map<string, { unsubscribe(): void; idleSince?: number }>();

  constructor(options: ServedCommandsOptions) {
    this.#options = options;
  }

  /** Subscribes on a (new) NATS connection, dropping the subscriptions of the old one. */
  attach(nc: NatsConnection): void {
    for (const served of this.#served.values()) served.unsubscribe();
    this.#served.clear();
    this.#nc = nc;
    this.sync();
  }

  /**
   * Subscribes to each command this gate's links serve now. A command no longer served keeps
   * its subscription for {@linkcode UNSUBSCRIBE_AFTER_MS}, answering "off" at once, while the
   * announce that it is gone reaches the others: a request published just as the client library
   * dropped the subscription would otherwise be lost at this gate and wait for its timeout.
   */
  sync(now: number = Date.now()): void {
    const links = this.#options.dispatcher.links;
    for (const [cmd, served] of this.#served) {
      if (links.serves(cmd)) {
        served.idleSince = undefined;
        continue;
      }
      served.idleSince ??= now;
      if (now - served.idleSince < UNSUBSCRIBE_AFTER_MS) continue;
      served.unsubscribe();
      this.#served.delete(cmd);
    }
    const nc = this.#nc;
    if (!nc) return;
    for (const cmd of links.commands) {
      if (this.#served.has(cmd)) continue;
      const sub = nc.subscribe(commandSubject(this.#options.gate, cmd), {
        callback: (_error, msg) => this.#serve(cmd, msg),
      });
      this.#served.set(cmd, { unsubscribe: () => sub.unsubscribe() });
    }
  }

  /** A request from another gate for one of this gate's links. */
  #serve(cmd: string, msg: Msg): void {
    if (!msg.reply) return;
    const { dispatcher, log } = this.#options;
    let request: RequestEnvelope;
    try {
      request = msg.json<RequestEnvelope>();
    } catch {
      log.warn("cluster request unreadable", { cmd });
      return;
    }
    if (
      typeof request !== "object" || request === null || request.cmd !== cmd ||
      !Number.isSafeInteger(request.msgId)
    ) {
      log.warn("cluster request malformed", { cmd });
      return;
    }
    const pick = dispatcher.pick(cmd);
    if (!pick.link) {
      msg.respond("", { headers: pick.state === State.SERVER_BUSY ? REFUSED_BUSY : REFUSED_OFF });
      return;
    }
    dispatcher.forward({
      link: pick.link,
      request,
      reply: (text, state) =>
        msg.respond(text, state === State.OK ? undefined : { headers: stateHeaders(state) }),
    });
  }
}

function refusal(why: "busy" | "off"): MsgHdrs {
  const h = headers();
  h.set(REFUSED_HEADER, why);
  return h;
}

/** The refusal headers, made once (a reply's headers are only read). */
const REFUSED_BUSY = refusal("busy");
const REFUSED_OFF = refusal("off");

/** The header of a service answer that is not OK: its state. */
function stateHeaders(state: number): MsgHdrs {
  const h = headers();
  h.set(STATE_HEADER, String(state));
  return h;
}
