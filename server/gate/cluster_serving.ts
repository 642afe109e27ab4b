/**
 * The serving side of cross-gate requests: one NATS subscription per command this gate's links
 * serve (`gatehouse.g.<gate>.c.<cmd>`), whose handler picks among the gate's links. A gate whose
 * links are all at their in-flight limit (or that serves the command no more) replies with a
 * refusal header instead of forwarding, and the requesting gate tries the next. The answers go
 * back batched per turn (cluster_answers.ts), to a gate that says it reads batches.
 *
 * @module
 */

import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { type RequestEnvelope, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { AnswerBatches, readAnswerBatch } from "./cluster_answers.ts";
import { commandSubject, SUBJECT_PREFIX } from "./cluster_subjects.ts";
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
  /** Whether gate `gate` reads answer batches (its last announce says so). */
  readsBatches(gate: number): boolean;
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
    this.#answers = new AnswerBatches({
      log: options.log,
      readsBatches: options.readsBatches,
    });
  }

  /** Sends the answers gathered in this turn now (before the gate closes its NATS connection). */
  flush(): void {
    this.#answers.flush();
  }

  /** The reply that answers a request from another gate (batched with the turn's others). */
  #respond(to: string): Reply {
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
        callback: (_error, msg) => this.#onMessage({ cmd, field }, msg),
      });
      this.#served.set(cmd, { unsubscribe: () => sub.unsubscribe() });
    }
  }

  /**
   * A message from another gate on a command subject: one request, or (its reply subject a
   * gate's `gatehouse.r.<gate>.<epoch>.q<id>-<id>…`) a batch of them (cluster_answers.ts), each
   * answered on its own id. Any other reply subject is one request's, a NATS inbox's too, whose
   * last token may well start with `q`.
   */
  #onMessage(served: { cmd: string; field: string }, msg: Msg): void {
    const to = msg.reply;
    if (!to) return;
    const dot = to.lastIndexOf(".");
    if (to.charCodeAt(dot + 1) !== 0x71 || !BATCH_REPLY.test(to)) { // not `q<id>…`: one request
      this.#serve(served, { text: msg.string(), to });
      return;
    }
    const prefix = to.slice(0, dot + 1);
    const { answers: requests, fault } = readAnswerBatch(msg.data);
    for (const { id, bytes } of requests) {
      this.#serve(served, { text: decoder.decode(bytes), to: prefix + id });
    }
    if (fault) this.#options.log.warn("cluster requests unreadable", { cmd: served.cmd, fault });
  }

  /**
   * A request from another gate for one of this gate's links. Its text starts with its `msgId`
   * and `cmd` (cluster_request_text.ts): checked there, it goes to the link with only `msgId`
   * replaced. A command routed by key needs the request's data, and a text that does not start
   * so is checked whole: both are parsed.
   */
  #serve(served: { cmd: string; field: string }, options: { text: string; to: string }): void {
    const { cmd, field } = served;
    const { text, to } = options;
    const { dispatcher, log } = this.#options;
    const rotation = dispatcher.links.rotation(cmd);
    if (rotation?.route === undefined) {
      const head = readRequestHead(text, field);
      if (head) {
        const pick = dispatcher.links.pickIn(cmd, rotation);
        if (!pick.link) {
          this.#answers.refuse({ to, busy: pick.state === State.SERVER_BUSY });
          return;
        }
        const reply = this.#respond(to);
        dispatcher.forwardText({ link: pick.link, cmd, text, head, reply });
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
        reply: this.#respond(to),
        rotation,
        route: rotation.route,
      });
      return;
    }
    const pick = dispatcher.links.pickIn(cmd, rotation);
    if (!pick.link) this.#answers.refuse({ to, busy: pick.state === State.SERVER_BUSY });
    else dispatcher.forward({ link: pick.link, request, reply: this.#respond(to) });
  }
}

/** The reply subject of a batch of requests: `gatehouse.r.<gate>.<epoch>.q<id>-<id>…`. */
const BATCH_REPLY = new RegExp(`^${SUBJECT_PREFIX}\\.r\\.\\d+\\.\\d+\\.q\\d+(-\\d+)*$`);

const decoder = new TextDecoder();
