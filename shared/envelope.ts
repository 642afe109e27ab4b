/**
 * The JSON envelope of wire protocol v1 (DESIGN.md, "The envelope"): request, response and
 * push, and a validator whose errors say in one sentence what is wrong.
 *
 * @example
 * ```ts
 * import { parseEnvelope } from "./envelope.ts";
 * const result = parseEnvelope('{"cmd":"echo","is_req":true,"msgId":1,"data":{}}');
 * if (result.ok) console.log(result.envelope.cmd);
 * else console.log(result.error); // a sentence naming the fault
 * ```
 * @module
 */

import { isStateCode, State } from "./state_codes.ts";
import { CMD_PATTERN, MAX_CMD_LENGTH, MAX_JSON_DEPTH, MAX_MSG_LENGTH } from "./limits.ts";

/** A request: answered by exactly one response with the same `msgId`. */
export interface RequestEnvelope<T = unknown> {
  cmd: string;
  is_req: true;
  msgId: number;
  time?: number;
  data: T;
  /** Set by the gate when it forwards to a service: the sender's connection id. */
  clientId?: number | string;
  /**
   * Set by the gate when it forwards to a service: the sender's IP address, without port (behind
   * a proxy named by the gate's `--trust-proxy`, the client's from `X-Forwarded-For`). Whatever
   * a client wrote here is overwritten.
   */
  clientAddr?: string;
  /** Set by the gate when it forwards to a service: the bound user, 0 when none. */
  userId?: number;
  /**
   * Set by the gate when it forwards to a service: the bound user's username, as the login
   * service gave it when it bound the user (`ss_msg_user_login`); absent when no user is bound
   * (or the binding named none). Whatever a client wrote here is removed or overwritten.
   */
  userName?: string;
  /** Set by the gate when it forwards to a service: whether the sender is a service link. */
  is_ss_link?: boolean;
}

/** A response to a request. */
export interface ResponseEnvelope<T = unknown> {
  cmd: string;
  is_resp: true;
  msgId: number;
  state: number;
  msg?: string;
  time?: number;
  data: T;
  /** Set by a service so that the gate can route the response; stripped before the client. */
  clientId?: number | string;
}

/** A server-initiated message, never answered. */
export interface PushEnvelope<T = unknown> {
  cmd: string;
  is_push: true;
  time?: number;
  data: T;
}

/** Any envelope of the protocol. */
export type Envelope<T = unknown> =
  | RequestEnvelope<T>
  | ResponseEnvelope<T>
  | PushEnvelope<T>;

/** The outcome of validating an envelope: the envelope, or a sentence saying what is wrong. */
export type EnvelopeResult =
  | {
    ok: true;
    envelope: Envelope;
    /**
     * Set when validation filled in a field the text lacked (`data`, or the `msg` of a response
     * that is not OK): the envelope no longer reads as its text.
     */
    filled?: boolean;
  }
  | { ok: false; error: string; msgId?: number; cmd?: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isMsgId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/**
 * Checks that a parsed JSON value is an envelope of protocol v1. The error, when there is one,
 * names the field that is wrong; `msgId` and `cmd` are returned with it when they were readable,
 * so that the caller can answer the request it could not accept.
 *
 * @example
 * ```ts
 * validateEnvelope({ cmd: "x", is_req: true, msgId: 0 });
 * // { ok: false, error: "Field msgId must be a positive integer", msgId: undefined, cmd: "x" }
 * ```
 */
export function validateEnvelope(value: unknown): EnvelopeResult {
  if (!isPlainObject(value)) {
    return { ok: false, error: "The envelope must be a JSON object" };
  }
  const cmd = value.cmd;
  const msgId = isMsgId(value.msgId) ? value.msgId : undefined;
  const fail = (error: string): EnvelopeResult => ({
    ok: false,
    error,
    msgId,
    cmd: typeof cmd === "string" && cmd.length <= MAX_CMD_LENGTH && CMD_PATTERN.test(cmd)
      ? cmd
      : undefined,
  });
  if (typeof cmd !== "string") return fail("Field cmd is missing or not a string");
  if (cmd.length === 0 || cmd.length > MAX_CMD_LENGTH || !CMD_PATTERN.test(cmd)) {
    return fail(`Field cmd must be 1 to ${MAX_CMD_LENGTH} letters, digits, '_', '.', ':' or '-'`);
  }
  const kinds = Number(value.is_req === true) + Number(value.is_resp === true) +
    Number(value.is_push === true);
  if (kinds !== 1) {
    return fail("Exactly one of is_req, is_resp and is_push must be true");
  }
  if (
    value.time !== undefined &&
    (typeof value.time !== "number" || !Number.isFinite(value.time))
  ) {
    return fail("Field time must be a number of milliseconds");
  }
  let filled = false;
  if (value.data === undefined) {
    value.data = {};
    filled = true;
  }
  if (value.is_push === true) {
    return { ok: true, envelope: value as unknown as PushEnvelope, filled };
  }
  if (msgId === undefined) {
    return fail("Field msgId must be a positive integer");
  }
  if (value.is_resp === true) {
    if (!isStateCode(value.state)) {
      return fail("Field state must be a known state code");
    }
    if (value.msg !== undefined && typeof value.msg !== "string") {
      return fail("Field msg must be a string");
    }
    if (typeof value.msg === "string" && value.msg.length > MAX_MSG_LENGTH) {
      return fail(`Field msg must be at most ${MAX_MSG_LENGTH} characters`);
    }
    if (value.state !== State.OK && value.msg === undefined) {
      value.msg = "";
      filled = true;
    }
    return { ok: true, envelope: value as unknown as ResponseEnvelope, filled };
  }
  return { ok: true, envelope: value as unknown as RequestEnvelope, filled };
}

/**
 * Parses envelope text and validates it.
 *
 * @example
 * ```ts
 * parseEnvelope("not json"); // { ok: false, error: "The message is not valid JSON" }
 * ```
 */
export function parseEnvelope(text: string): EnvelopeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "The message is not valid JSON" };
  }
  const result = validateEnvelope(value);
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    // Refused whole, but answered by its msgId when it has one.
    const envelope = result.ok ? result.envelope as { msgId?: number; cmd: string } : result;
    return {
      ok: false,
      error: `The message nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
      msgId: envelope.msgId,
      cmd: envelope.cmd,
    };
  }
  return result;
}

/**
 * Whether JSON text nests arrays and objects deeper than `limit` levels, found by one pass over
 * the text (brackets inside strings do not count).
 *
 * @example
 * ```ts
 * nestsDeeperThan('{"a":[[1]]}', 2); // true: three levels
 * nestsDeeperThan('{"a":"[[["}', 2); // false
 * ```
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  if (text.length <= limit) return false;
  // No more opening brackets than the limit (inside strings or not) cannot nest deeper: counted
  // with indexOf, which is native, before walking the text character by character.
  let opens = 0;
  for (let i = text.indexOf("{"); i !== -1 && opens <= limit; i = text.indexOf("{", i + 1)) {
    opens++;
  }
  for (let i = text.indexOf("["); i !== -1 && opens <= limit; i = text.indexOf("[", i + 1)) {
    opens++;
  }
  if (opens <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** Whether an envelope is a request. */
export function isRequest(envelope: Envelope): envelope is RequestEnvelope {
  return (envelope as RequestEnvelope).is_req === true;
}

/** Whether an envelope is a response. */
export function isResponse(envelope: Envelope): envelope is ResponseEnvelope {
  return (envelope as ResponseEnvelope).is_resp === true;
}

/** Whether an envelope is a push. */
export function isPush(envelope: Envelope): envelope is PushEnvelope {
  return (envelope as PushEnvelope).is_push === true;
}

/** Options of {@linkcode makeResponse}. */
export interface ResponseOptions<T> {
  state?: number;
  msg?: string;
  data?: T;
}

/**
 * Builds the response to a request: `cmd` and `msgId` echoed, `state` OK unless given.
 *
 * @example
 * ```ts
 * makeResponse({ cmd: "echo", msgId: 7 }, { state: State.FAIL, msg: "No such user" });
 * ```
 */
export function makeResponse<T>(
  request: { cmd: string; msgId: number },
  options: ResponseOptions<T> = {},
): ResponseEnvelope<T | Record<string, never>> {
  const state = options.state ?? State.OK;
  const response: ResponseEnvelope<T | Record<string, never>> = {
    cmd: request.cmd,
    is_resp: true,
    msgId: request.msgId,
    state,
    time: Date.now(),
    data: options.data ?? {},
  };
  if (state !== State.OK) response.msg = options.msg ?? "";
  return response;
}

/** Builds a push envelope. */
export function makePush<T>(cmd: string, data: T): PushEnvelope<T> {
  return { cmd, is_push: true, time: Date.now(), data };
}

/** Builds a request envelope. */
export function makeRequest<T>(
  cmd: string,
  options: { msgId: number; data?: T },
): RequestEnvelope<T | Record<string, never>> {
  return {
    cmd,
    is_req: true,
    msgId: options.msgId,
    time: Date.now(),
    data: options.data ?? {},
  };
}
