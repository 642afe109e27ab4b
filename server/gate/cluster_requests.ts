/**
 * The requesting side of cross-gate requests. The gate a request enters picks the gate that
 * serves it (round-robin weighted by link counts, its own links taken without NATS) and
 * publishes it with a reply subject of its own run (`gatehouse.r.<gate>.<epoch>.<id>`): one
 * wildcard subscription for every answer, one sweep for every timeout, no promise and no timer
 * per request. A gate that refuses ("busy" or "off" header) or that NATS finds no responder for
 * (a 503 status, told apart by its code) moves the request on to the next gate. Because the
 * requester knows where each request went, the requests in flight to a gate found dead are
 * answered `SERVER_OFF` at once.
 *
 * A command no gate serves now is `SERVER_OFF` when any gate ever served it, else
 * `UNDEFINED_CMD`; `SERVER_BUSY` only when every instance everywhere is at its limit.
 *
 * @module
 */

import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { isStateCode, type RequestEnvelope, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { BATCH_TOKEN, encodeBatch, readAnswerBatch } from "./cluster_answers.ts";
import { requestText } from "./cluster_request_text.ts";
import { commandSubject, REFUSED_HEADER, STATE_HEADER } from "./cluster_subjects.ts";
import type { GateDirectory } from "./gate_directory.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";
import type { GateMetrics } from "./metrics.ts";
import { type RemoteCall, RemoteCalls } from "./remote_calls.ts";
import type { Reply } from "./session.ts";

/**
 * How much longer than the request timeout a call to another gate waits: the serving gate times
 * the request out itself (its link did not answer) and says so, counted once, there; this gate
 * times it out only when that answer does not come (NATS lost the request or the answer).
 */
export const TIMEOUT_MARGIN_MS = 500;

/** The most requests in one batch (their ids make its reply subject). */
const MAX_BATCH = 64;

/** The status code of NATS's "no responders" answer. */
const NO_RESPONDERS = 503;

/** The requests of one turn for one subject, and the gate it is of. */
interface Outgoing {
  gate: number;
  entries: { id: number; state: number; text: string }[];
}

/** Options of {@linkcode ClusterRequests}. */
export interface ClusterRequestsOptions {
  /** This gate's number. */
  gate: number;
  dispatcher: LinkDispatcher;
  directory: GateDirectory;
  metrics: GateMetrics;
  log: Logger;
  requestTimeoutMs: number;
}

/** One request on its way through the gates that serve its command. */
interface Attempt {
  request: RequestEnvelope;
  reply: Reply;
  targets: number[];
  next: number;
  /** Whether a gate tried so far was busy. */
  busy: boolean;
  /** The request's text (cluster_request_text.ts), made once for every gate tried. */
  text?: string;
  /** What to do when no gate of `targets` took it, instead of the usual answer. */
  onExhausted?: (busy: boolean) => void;
}

/** Sends requests to the gates that serve them and matches their answers. */
export class ClusterRequests {
  #options: ClusterRequestsOptions;
  #dispatcher: LinkDispatcher;
  #calls: RemoteCalls<Attempt>;
  #nc?: NatsConnection;
  /** This run's reply subject prefix, with a trailing dot. */
  #inbox = "";
  #connected = false;
  /** Subject → its gate and the requests of this turn for it (sent at the end of the turn). */
  #outbox = new Map<string, Outgoing>();
  #scheduled = false;
  /** Gate → command → its subject. */
  #subjects = new Map<number, Map<string, string>>();

  constructor(options: ClusterRequestsOptions) {
    this.#options = options;
    this.#dispatcher = options.dispatcher;
    this.#calls = new RemoteCalls<Attempt>({
      timeoutMs: options.requestTimeoutMs + TIMEOUT_MARGIN_MS,
      onTimeout: (call) =>
        this.#refuseCall(
          call,
          State.TIMEOUT,
          `No answer to ${call.cmd} within ${options.requestTimeoutMs} ms`,
        ),
    });
    options.metrics.gauge("cluster_requests_in_flight", {
      help: "Requests sent to another gate and not answered yet",
      read: () => this.#calls.size,
    });
  }

  /** How many requests wait for another gate's answer. */
  get inFlight(): number {
    return this.#calls.size;
  }

  /**
   * Uses a (new) NATS connection: subscribes to this run's reply subjects (`inbox` ends with a
   * dot).
   */
  attach(nc: NatsConnection, inbox: string): void {
    this.#nc = nc;
    this.#inbox = inbox;
    nc.subscribe(`${inbox}*`, { callback: (_error, msg) => this.#onAnswer(msg) });
  }

  /** Whether NATS is connected now (else only this gate's links are used). */
  set connected(connected: boolean) {
    this.#connected = connected;
  }

  /** Routes a request (its sender already stamped) to an instance on any gate. */
  route(request: RequestEnvelope, reply: Reply): void {
    const targets = this.#targets(request.cmd);
    if (targets === undefined) {
      this.#dispatcher.dispatch(request, reply);
      return;
    }
    if (targets.length === 0) {
      this.#exhausted(request, reply, false);
      return;
    }
    this.#attempt({ request, reply, targets, next: 0, busy: false });
  }

  /**
   * Tries the gates of `targets` in order (this gate's own links without NATS); when none takes
   * the request, `onExhausted(busy)` runs instead of the usual answer.
   */
  routeTo(
    options: {
      request: RequestEnvelope;
      reply: Reply;
      targets: number[];
      onExhausted?: (busy: boolean) => void;
    },
  ): void {
    this.#attempt({ ...options, next: 0, busy: false });
  }

  /** The gates to try for `cmd`; undefined when only this gate's links serve it. */
  targets(cmd: string): number[] | undefined {
    return this.#targets(cmd);
  }

  /** A gate is gone: its requests in flight are answered `SERVER_OFF`; returns how many. */
  gateDown(gate: number): number {
    const calls = this.#calls.takeGate(gate);
    for (const call of calls) {
      this.#refuseCall(
        call,
        State.SERVER_OFF,
        `The gate serving ${call.cmd} went away before answering`,
      );
    }
    return calls.length;
  }

  /** Stops the timeout sweep and answers every request in flight `SERVER_OFF`. */
  close(): void {
    this.#outbox.clear();
    this.#calls.close();
    for (const call of this.#calls.takeAll()) {
      this.#refuseCall(call, State.SERVER_OFF, "The gate is shutting down");
    }
  }

  /**
   * Answers a call with a state this gate decided, timed from when it was sent (its deadline
   * includes {@linkcode TIMEOUT_MARGIN_MS}).
   */
  #refuseCall(call: RemoteCall<Attempt>, state: number, msg: string): void {
    this.#dispatcher.refuse({
      request: { cmd: call.cmd, msgId: call.msgId, deadline: call.deadline - TIMEOUT_MARGIN_MS },
      reply: call.reply,
      state,
      msg,
    });
  }

  /** The gates to try for `cmd`; undefined when only this gate's links serve it. */
  #targets(cmd: string): number[] | undefined {
    const own = this.#dispatcher.links.count(cmd);
    if (!this.#connected) return own > 0 ? undefined : [];
    return this.#options.directory.targets(cmd, own);
  }

  /** Tries the gates of `targets` from `next` on until one takes the request. */
  #attempt(attempt: Attempt): void {
    const { request, reply, targets } = attempt;
    while (attempt.next < targets.length) {
      const gate = targets[attempt.next++];
      if (gate !== this.#options.gate) {
        this.#sendTo(gate, attempt);
        return;
      }
      const pick = this.#dispatcher.pick(request.cmd);
      if (pick.link) {
        this.#dispatcher.forward({ link: pick.link, request, reply });
        return;
      }
      if (pick.state === State.SERVER_BUSY) attempt.busy = true;
    }
    if (attempt.onExhausted) attempt.onExhausted(attempt.busy);
    else this.#exhausted(request, reply, attempt.busy);
  }

  #exhausted(request: RequestEnvelope, reply: Reply, busy: boolean): void {
    const cmd = request.cmd;
    const answer = busy
      ? { state: State.SERVER_BUSY, msg: `Every service for ${cmd} is at its in-flight limit` }
      : this.#options.directory.knows(cmd)
      ? { state: State.SERVER_OFF, msg: `No service for ${cmd} is connected` }
      : { state: State.UNDEFINED_CMD, msg: `No service has registered ${cmd}` };
    this.#dispatcher.refuse({ request, reply, ...answer });
  }

  /** Sends a request to another gate; its refusal moves on to the next gate. */
  #sendTo(gate: number, attempt: Attempt): void {
    const nc = this.#nc;
    const { request, reply } = attempt;
    if (!nc) {
      this.#attempt(attempt);
      return;
    }
    attempt.text ??= requestText(request);
    const call = this.#calls.add({
      gate,
      cmd: request.cmd,
      msgId: request.msgId,
      reply,
      context: attempt,
    });
    const subject = this.#subject(gate, request.cmd);
    const batch = this.#outbox.get(subject);
    const entry = { id: call.id, state: 0, text: attempt.text };
    if (batch) batch.entries.push(entry);
    else this.#outbox.set(subject, { gate, entries: [entry] });
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /**
   * Publishes the requests of this turn: one message per subject, a lone request as it is, more
   * as a batch (cluster_answers.ts) whose reply subject names their calls, `q<id>-<id>…`, so that
   * NATS's no-responders status for it moves each of them on. A gate whose last announce does
   * not say it reads batches (gate_directory.ts, `batches`) gets each request alone.
   */
  #flush(): void {
    this.#scheduled = false;
    const outbox = this.#outbox;
    if (outbox.size === 0) return;
    this.#outbox = new Map();
    const nc = this.#nc;
    const directory = this.#options.directory;
    for (const [subject, { gate, entries }] of outbox) {
      const most = entries.length > 1 && directory.readsBatches(gate) ? MAX_BATCH : 1;
      for (let i = 0; i < entries.length; i += most) {
        const chunk = most === 1 ? [entries[i]] : entries.slice(i, i + most);
        try {
          if (!nc) throw new Error("No NATS connection");
          if (chunk.length === 1) {
            nc.publish(subject, chunk[0].text, { reply: this.#inbox + chunk[0].id });
          } else {
            nc.publish(subject, encodeBatch(chunk), {
              reply: this.#inbox + "q" + chunk.map((entry) => entry.id).join("-"),
            });
          }
        } catch (error) {
          this.#options.log.warn("cluster requests not sent", { error, requests: chunk.length });
          for (const { id } of chunk) {
            const call = this.#calls.take(id);
            if (call) {
              this.#refuseCall(
                call,
                State.SERVER_OFF,
                `The gate serving ${call.cmd} could not be reached`,
              );
            }
          }
        }
      }
    }
  }

  /** NATS's answer to a batch of requests: no responder (each moves on) or another error. */
  #onBatchStatus(token: string, msg: Msg): void {
    const h = msg.headers;
    if (!h?.hasError) return;
    for (const id of token.slice(1).split("-")) {
      const call = this.#calls.take(Number(id));
      if (!call) continue;
      if (h.code === NO_RESPONDERS) this.#attempt(call.context);
      else {
        this.#refuseCall(
          call,
          State.SERVER_OFF,
          `The gate serving ${call.cmd} could not be reached`,
        );
      }
    }
    if (h.code !== NO_RESPONDERS) {
      this.#options.log.warn("cluster request batch failed", { status: h.code });
    }
  }

  /** The subject of `cmd` on `gate`, made once. */
  #subject(gate: number, cmd: string): string {
    let subjects = this.#subjects.get(gate);
    if (!subjects) this.#subjects.set(gate, subjects = new Map());
    let subject = subjects.get(cmd);
    if (subject === undefined) {
      subject = commandSubject(gate, cmd);
      // Bounded: commands are those some gate announced (the directory's targets).
      subjects.set(cmd, subject);
    }
    return subject;
  }

  /** An answer (or NATS's no-responders status) to a request this gate sent. */
  #onAnswer(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length);
    if (token === BATCH_TOKEN) {
      this.#onAnswers(msg.data);
      return;
    }
    if (token.charCodeAt(0) === 0x71) { // `q`: a batch of requests
      this.#onBatchStatus(token, msg);
      return;
    }
    const call = this.#calls.take(Number(token));
    if (!call) return;
    const attempt = call.context;
    const h = msg.headers;
    if (h) {
      if (h.hasError && h.code === NO_RESPONDERS) {
        // That gate stopped serving the command since it last said so: try the next.
        this.#attempt(attempt);
        return;
      }
      if (h.hasError) {
        this.#options.log.warn("cluster request failed", { gate: call.gate, status: h.code });
        this.#refuseCall(
          call,
          State.SERVER_OFF,
          `The gate serving ${call.cmd} could not be reached`,
        );
        return;
      }
      const refused = h.get(REFUSED_HEADER);
      if (refused) {
        if (refused === "busy") attempt.busy = true;
        this.#attempt(attempt);
        return;
      }
      passOn(call.reply, msg, Number(h.get(STATE_HEADER) || State.OK));
      return;
    }
    passOn(call.reply, msg, State.OK);
  }

  /** Answers from a gate, batched (cluster_answers.ts); each settles its call once. */
  #onAnswers(data: Uint8Array): void {
    const { answers, fault } = readAnswerBatch(data);
    for (const { id, state, bytes } of answers) {
      const call = this.#calls.take(id);
      if (!call) continue;
      if (!isStateCode(state)) {
        this.#refuseCall(
          call,
          State.FAIL,
          `The gate serving ${call.cmd} sent an unreadable answer`,
        );
        continue;
      }
      const reply = call.reply;
      if (reply.utf8 && bytes.length > 0 && bytes[0] === 0x7b) reply.utf8(bytes, state);
      else reply(decoder.decode(bytes), state);
    }
    if (fault) this.#options.log.warn("cluster answers unreadable", { fault });
  }
}

const decoder = new TextDecoder();

/**
 * Passes an answer from another gate on: as the bytes that came when the reply can send bytes
 * and they look like the envelope's JSON object (the other gate encoded its text), else as text.
 */
function passOn(reply: Reply, msg: Msg, state: number): void {
  const data = msg.data;
  if (reply.utf8 && data.length > 0 && data[0] === 0x7b) reply.utf8(data, state);
  else reply(msg.string(), state);
}
