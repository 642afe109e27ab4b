/**
 * The serving side of cross-gate requests: one NATS subscription per command this gate's links
 * serve (`gatehouse.g.<gate>.c.<cmd>`), whose handler picks among the gate's links. A gate whose
 * links are all at their in-flight limit (or that serves the command no more) replies with a
 * refusal header instead of forwarding, and the requesting gate tries the next. The answers go
 * back batched per turn (cluster_answers.ts).
 *
 * @module
 */

import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { type RequestEnvelope, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { AnswerBatches } from "./cluster_answers.ts";
import { commandSubject, REFUSED_HEADER } from "./cluster_subjects.ts";
import { ANNOUNCE_MS } from "./gate_directory.ts";
import { cmdField, readRequestHead } from "./cluster_request_text.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";
import type { Reply } from "./session.ts";

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

  /** The answers to the requests this gate served, batched per turn (cluster_answers.ts). */
  #answers: AnswerBatches;

  constructor(options: ServedCommandsOptions) {
    this.#options = options;
    this.#answers = new AnswerBatches({ log: options.log });
  }

  /** Sends the answers gathered in this turn now (before the gate closes its NATS connection). */
  flush(): void {
    this.#answers.flush();
  }

  /** The reply that answers a request from another gate (batched with the turn's others). */
  #respond(msg: Msg): Reply {
    const to = msg.reply!;
    return (text, state) => this.#answers.send({ to, text, state });
  }

  /** Subscribes on a (new) NATS connection, dropping the subscriptions of the old one. */
  attach(nc: NatsConnection): void {
    this.#answers.attach(nc);
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
      const field = cmdField(cmd);
      const sub = nc.subscribe(commandSubject(this.#options.gate, cmd), {
        callback: (_error, msg) => this.#serve({ cmd, field }, msg),
      });
      this.#served.set(cmd, { unsubscribe: () => sub.unsubscribe() });
    }
  }

  /**
   * A request from another gate for one of this gate's links. Its text starts with its `msgId`
   * and `cmd` (cluster_request_text.ts): checked there, it goes to the link with only `msgId`
   * replaced. A command routed by key needs the request's data, and a text that does not start
   * so is checked whole: both are parsed.
   */
  #serve(served: { cmd: string; field: string }, msg: Msg): void {
    if (!msg.reply) return;
    const { cmd, field } = served;
    const { dispatcher, log } = this.#options;
    const text = msg.string();
    const rotation = dispatcher.links.rotation(cmd);
    if (rotation?.route === undefined) {
      const head = readRequestHead(text, field);
      if (head) {
        const pick = dispatcher.links.pickIn(cmd, rotation);
        if (!pick.link) refuse(msg, pick.state);
        else {dispatcher.forwardText({
            link: pick.link,
            cmd,
            text,
            head,
            reply: this.#respond(msg),
          });}
        return;
      }
    }
    let request: RequestEnvelope;
    try {
      request = JSON.parse(text);
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
    if (rotation?.route !== undefined) {
      // Route by key: the link holding the key (any when none does), or gathered from all.
      dispatcher.dispatchRouted({
        request,
        reply: this.#respond(msg),
        rotation,
        route: rotation.route,
      });
      return;
    }
    const pick = dispatcher.links.pickIn(cmd, rotation);
    if (!pick.link) refuse(msg, pick.state);
    else dispatcher.forward({ link: pick.link, request, reply: this.#respond(msg) });
  }
}

/** Says why this gate did not take a request: all its links busy, or none left. */
function refuse(msg: Msg, state: number): void {
  msg.respond("", { headers: state === State.SERVER_BUSY ? REFUSED_BUSY : REFUSED_OFF });
}

function refusal(why: "busy" | "off"): MsgHdrs {
  const h = headers();
  h.set(REFUSED_HEADER, why);
  return h;
}

/** The refusal headers, made once (a reply's headers are only read). */
const REFUSED_BUSY = refusal("busy");
const REFUSED_OFF = refusal("off");
