/**
 * The answers a gate sends back to the gates whose requests its links served, batched: the
 * answers of one turn of the event loop for one requesting gate's run leave as one NATS message
 * on `<reply prefix>.m` (cluster_subjects.ts, `replyPrefix`) instead of one message each, so
 * that NATS, and the NATS clients of both gates, handle one message for many answers
 * (bench/FINDINGS.md, finding 18). A turn's lone answer, any answer to a reply subject of
 * another form, and every answer to a gate whose last announce does not say it reads batches (a
 * gate of an earlier version, or not heard yet: gate_directory.ts, `batches`), is published as
 * before: on its own reply subject, its state in a header.
 *
 * The batch body is, for each answer: `<call id> <state> <length>\n` (ASCII) and then `length`
 * bytes of the response envelope's UTF-8 text. {@linkcode readAnswerBatch} reads it, and stops at
 * the first entry that does not fit.
 *
 * @module
 */

import { headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { REFUSED_HEADER, STATE_HEADER, SUBJECT_PREFIX } from "./cluster_subjects.ts";

/** The last token of the subject an answer batch goes to (after the requester's prefix). */
export const BATCH_TOKEN = "m";

/** The reply subjects this gate batches answers for: `gatehouse.r.<gate>.<epoch>.<id>`. */
const BATCHED_REPLY = new RegExp(`^${SUBJECT_PREFIX}\\.r\\.\\d+\\.\\d+\\.\\d+$`);

const encoder = new TextEncoder();

/** One answer waiting for the end of the turn. */
interface Answer {
  id: string;
  state: number;
  text: string;
}

/** Options of {@linkcode AnswerBatches}. */
export interface AnswerBatchesOptions {
  log: Logger;
  /** Whether gate `gate` reads answer batches (its last announce says so). */
  readsBatches(gate: number): boolean;
}

/** Answers to other gates, gathered per requesting run and sent at the end of the turn. */
export class AnswerBatches {
  #log: Logger;
  #readsBatches: (gate: number) => boolean;
  #nc?: NatsConnection;
  /** Reply prefix (with its trailing dot) → the answers of this turn for it. */
  #batches = new Map<string, Answer[]>();
  #scheduled = false;

  constructor(options: AnswerBatchesOptions) {
    this.#log = options.log;
    this.#readsBatches = options.readsBatches;
  }

  /** Publishes on a (new) NATS connection. */
  attach(nc: NatsConnection): void {
    this.#nc = nc;
  }

  /** Sends an answer to a request that came with reply subject `to`. */
  send(options: { to: string; text: string; state: number }): void {
    const { to, text, state } = options;
    const dot = to.lastIndexOf(".");
    if (!BATCHED_REPLY.test(to)) {
      this.#publish(to, text, state);
      return;
    }
    const prefix = to.slice(0, dot + 1);
    const answer = { id: to.slice(dot + 1), state, text };
    const batch = this.#batches.get(prefix);
    if (batch) batch.push(answer);
    else this.#batches.set(prefix, [answer]);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends every answer gathered so far (at the end of the turn, or before the gate closes). */
  flush(): void {
    this.#scheduled = false;
    const batches = this.#batches;
    if (batches.size === 0) return;
    this.#batches = new Map();
    for (const [prefix, answers] of batches) {
      if (answers.length > 1 && this.#readsBatches(replyGate(prefix))) {
        this.#publishBatch(prefix + BATCH_TOKEN, answers);
        continue;
      }
      for (const { id, text, state } of answers) this.#publish(prefix + id, text, state);
    }
  }

  #publish(subject: string, text: string, state: number): void {
    try {
      this.#nc?.publish(
        subject,
        text,
        state === State.OK ? undefined : { headers: stateHeaders(state) },
      );
    } catch (error) {
      // The connection closed meanwhile: the requester times the call out.
      this.#log.warn("cluster answer not sent", { error });
    }
  }

  /** Refuses a request from another gate: all this gate's links busy, or none left. */
  refuse(options: { to: string; busy: boolean }): void {
    try {
      this.#nc?.publish(options.to, "", {
        headers: options.busy ? REFUSED_BUSY : REFUSED_OFF,
      });
    } catch (error) {
      this.#log.warn("cluster refusal not sent", { error });
    }
  }

  #publishBatch(subject: string, answers: Answer[]): void {
    const data = encodeBatch(answers);
    try {
      this.#nc?.publish(subject, data);
    } catch (error) {
      this.#log.warn("cluster answers not sent", { error, answers: answers.length });
    }
  }
}

/** Where the gate number starts in a reply subject (`gatehouse.r.<gate>.<epoch>.<id>`). */
const REPLY_GATE_AT = `${SUBJECT_PREFIX}.r.`.length;

/**
 * The number of the gate whose reply subject (or reply prefix) `subject` is,
 * `gatehouse.r.<gate>.<epoch>…`; NaN when it is not of that form.
 */
export function replyGate(subject: string): number {
  if (!subject.startsWith(`${SUBJECT_PREFIX}.r.`)) return NaN;
  const end = subject.indexOf(".", REPLY_GATE_AT);
  const digits = subject.slice(REPLY_GATE_AT, end < 0 ? subject.length : end);
  return /^\d{1,15}$/.test(digits) ? Number(digits) : NaN;
}

/**
 * Encodes a batch: for each entry `<id> <state> <length>\n` and its text's UTF-8 (requests
 * batched by the requesting gate carry state 0). Every entry is encoded into one growing buffer
 * (`encodeInto`), copied out once at its exact size: a typed array allocated per entry costs
 * more than the encoding itself (bench/FINDINGS.md, finding 19).
 */
export function encodeBatch(
  entries: { id: string | number; state: number; text: string }[],
): Uint8Array {
  let out = batchScratch;
  let at = 0;
  for (const { id, state, text } of entries) {
    // The head (the id, 2 × 16 digits, 2 spaces, a newline) and the text at 3 bytes a unit.
    const idText = typeof id === "string" ? id : undefined;
    const need = at + 64 + (idText?.length ?? 0) + text.length * 3;
    if (need > out.length) out = grown(out, { at, need });
    if (idText === undefined) at = writeDigits(out, { at, value: id as number });
    else at += encoder.encodeInto(idText, out.subarray(at)).written;
    out[at++] = 0x20;
    at = writeDigits(out, { at, value: state });
    out[at++] = 0x20;
    // The body goes after room for the most digits its length can have, then moves back next
    // to the digits once its length is known.
    const bodyAt = at + String(text.length * 3).length + 1;
    const written = encoder.encodeInto(text, out.subarray(bodyAt)).written;
    at = writeDigits(out, { at, value: written });
    out[at++] = 0x0a;
    if (at !== bodyAt) out.copyWithin(at, bodyAt, bodyAt + written);
    at += written;
  }
  if (out.length <= MAX_SCRATCH_BYTES) batchScratch = out;
  return out.slice(0, at);
}

/** Writes a non-negative integer's decimal digits at `at`; returns the index after them. */
function writeDigits(out: Uint8Array, options: { at: number; value: number }): number {
  let value = options.value;
  let end = options.at + 1;
  for (let rest = Math.floor(value / 10); rest > 0; rest = Math.floor(rest / 10)) end++;
  for (let i = end - 1; i >= options.at; i--) {
    out[i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
  return end;
}

/** The buffer batches are encoded into, kept between batches up to this size. */
const MAX_SCRATCH_BYTES = 1 << 20;
let batchScratch: Uint8Array = new Uint8Array(64 * 1024);

/** A larger buffer holding the first `at` bytes of `out`, with room for `need`. */
function grown(out: Uint8Array, options: { at: number; need: number }): Uint8Array {
  const bigger = new Uint8Array(Math.max(out.length * 2, options.need));
  bigger.set(out.subarray(0, options.at));
  return bigger;
}

/** One answer read from a batch: the call it answers, its state, its envelope's UTF-8. */
export interface BatchedAnswer {
  id: number;
  state: number;
  bytes: Uint8Array;
}

/**
 * Reads an answer batch; returns the answers read and, when the body does not fit the format,
 * why (the answers before the fault are returned all the same).
 */
export function readAnswerBatch(data: Uint8Array): { answers: BatchedAnswer[]; fault?: string } {
  const answers: BatchedAnswer[] = [];
  let at = 0;
  while (at < data.length) {
    const id = readNumber(data, at, 0x20);
    if (!id) return { answers, fault: "An answer batch entry has no call id" };
    const state = readNumber(data, id.next, 0x20);
    if (!state) return { answers, fault: "An answer batch entry has no state" };
    const length = readNumber(data, state.next, 0x0a);
    if (!length || length.next + length.value > data.length) {
      return { answers, fault: "An answer batch entry's length does not fit the message" };
    }
    at = length.next + length.value;
    answers.push({ id: id.value, state: state.value, bytes: data.subarray(length.next, at) });
  }
  return { answers };
}

/** Reads decimal digits from `at` up to `end` (a byte); undefined when there are none. */
function readNumber(
  data: Uint8Array,
  at: number,
  end: number,
): { value: number; next: number } | undefined {
  let value = 0;
  let i = at;
  for (; i < data.length && i - at <= 16; i++) {
    const c = data[i];
    if (c === end) break;
    if (c < 0x30 || c > 0x39) return undefined;
    value = value * 10 + (c - 0x30);
  }
  if (i === at || data[i] !== end || !Number.isSafeInteger(value)) return undefined;
  return { value, next: i + 1 };
}

function refusal(why: "busy" | "off"): MsgHdrs {
  const h = headers();
  h.set(REFUSED_HEADER, why);
  return h;
}

/** The refusal headers, made once (a reply's headers are only read). */
const REFUSED_BUSY = refusal("busy");
const REFUSED_OFF = refusal("off");

/** The headers of answers that are not OK, by state: made once each, only read. */
const STATE_HEADERS = new Map<number, MsgHdrs>();

/** The header of a service answer that is not OK: its state. */
function stateHeaders(state: number): MsgHdrs {
  let h = STATE_HEADERS.get(state);
  if (!h) {
    h = headers();
    h.set(STATE_HEADER, String(state));
    STATE_HEADERS.set(state, h);
  }
  return h;
}
