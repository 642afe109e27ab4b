/**
 * The license protocol's bodies (DESIGN.md, "License message bodies"): the string body of each
 * license frame, the two envelopes of the license port, the limits of the fields a login
 * carries, and the checks of both directions, so that a malformed message is an answer or an
 * error with a sentence, not a crash further on. The license server and `LicenseClient` import
 * them from here; neither declares a body of its own.
 *
 * Beyond the table's license types, the license port speaks two envelopes (type `Envelope`):
 * - request {@linkcode LicenseCmd.STATUS} (`data: {audit?}`), answered by a response whose
 *   `data` is the server's status report (the dog, the seats held, the queue, the latest audit
 *   events); `deno task license:status` uses it; any connection may send it, logged in or not.
 * - push {@linkcode LicenseCmd.QUEUED} (`data`: {@linkcode LicenseQueuedData}), sent to a login
 *   that asked to wait when it enters the queue; its `LoginRsp` follows when a seat is granted.
 *
 * @example
 * ```ts
 * import { readLicenseResponse } from "./license_messages.ts";
 * const bytes = new TextEncoder().encode('{"state":1,"seats":2,"seatsLeft":1,"heartbeatMs":5000}');
 * const read = readLicenseResponse("LoginRsp", bytes);
 * if (read.ok) console.log(read.body.seatsLeft); // 1
 * else console.log(read.error); // a sentence naming the fault
 * ```
 * @module
 */

import type { MessageTypeName } from "./message_types.ts";
import { State } from "./state_codes.ts";
import { decodeStrictUtf8 } from "./utf8.ts";

/** Commands of the envelopes the license port speaks besides its frame types. */
export const LicenseCmd = {
  /** Request: the server's status report; `data: {audit?}`. */
  STATUS: "license_status",
  /** Push: a login that asked to wait is queued; `data`: {@linkcode LicenseQueuedData}. */
  QUEUED: "license_queued",
} as const;

/** Longest instance id in a `LoginReq`. */
export const MAX_LICENSE_INSTANCE_ID_LENGTH = 128;

/** Longest host name in a `LoginReq`. */
export const MAX_LICENSE_HOST_LENGTH = 255;

/** Longest user name in a `LoginReq`. */
export const MAX_LICENSE_USER_LENGTH = 128;

/** Shortest heartbeat interval: the least a server may run with, and a client accepts. */
export const MIN_LICENSE_HEARTBEAT_MS = 10;

/** The license requests, by message-type name. */
export type LicenseRequestName = Extract<MessageTypeName, `${string}Req`>;

/** The license responses, by message-type name. */
export type LicenseResponseName = Extract<MessageTypeName, `${string}Rsp`>;

/**
 * The response type that answers a request type.
 *
 * @example
 * ```ts
 * licenseResponseName("LoginReq"); // "LoginRsp"
 * ```
 */
export function licenseResponseName(name: LicenseRequestName): LicenseResponseName {
  return name.replace(/Req$/, "Rsp") as LicenseResponseName;
}

/** The body of `LoginReq`. The other requests' bodies are `{}`. */
export interface LoginReq {
  /** A stable id of the client program instance: letters, digits and `_ . : @ -`. */
  instanceId: string;
  /** The client's host name. */
  host: string;
  /** The client's user name. */
  user: string;
  /** Queue the login when no seat is free (absent counts as false). */
  wait: boolean;
}

/** Fields every license response has. */
export interface LicenseRspBase {
  /** A state code: 1 OK, 0 refused (see `msg`), 1006 bad request… */
  state: number;
  /** Why, when `state` is not OK. */
  msg?: string;
}

/** The body of `HeartbeatRsp`. */
export interface HeartbeatRsp extends LicenseRspBase {
  /** The answering side's clock, ms since epoch. */
  time: number;
}

/**
 * The `HeartbeatRsp` either side answers a `HeartbeatReq` with: OK, and its clock.
 *
 * @example
 * ```ts
 * makeHeartbeatRsp(1700000000000); // { state: 1, time: 1700000000000 }
 * ```
 */
export function makeHeartbeatRsp(now: number = Date.now()): HeartbeatRsp {
  return { state: State.OK, time: now };
}

/** The body of `LoginRsp`. */
export interface LoginRsp extends LicenseRspBase {
  /** The license's seat count. */
  seats: number;
  /** Seats free after this login. */
  seatsLeft: number;
  /** The heartbeat interval both sides use. */
  heartbeatMs: number;
}

/** The body of `LogoutRsp`. */
export interface LogoutRsp extends LicenseRspBase {
  /** Seats free after this logout. */
  seatsLeft: number;
}

/** The body of `GetDogStatusRsp`: the signed license file's status. */
export interface GetDogStatusRsp extends LicenseRspBase {
  /** Whether the license file exists. */
  present: boolean;
  /** Whether it is well formed and its signature verifies. */
  valid: boolean;
  /** Whether it is past its last day. */
  expired: boolean;
  /** Who it is for; empty when not valid. */
  customer: string;
  /** Its seat count; 0 when not valid. */
  seats: number;
  /** Its last day, YYYY-MM-DD; empty when not valid. */
  expiresAt: string;
}

/** The body of each response type. */
export interface LicenseResponseBodies {
  /** The body of `HeartbeatRsp`. */
  HeartbeatRsp: HeartbeatRsp;
  /** The body of `LoginRsp`. */
  LoginRsp: LoginRsp;
  /** The body of `LogoutRsp`. */
  LogoutRsp: LogoutRsp;
  /** The body of `GetDogStatusRsp`. */
  GetDogStatusRsp: GetDogStatusRsp;
}

/** The `data` of the {@linkcode LicenseCmd.QUEUED} push. */
export interface LicenseQueuedData {
  /** The place in the queue, 1 first. */
  position: number;
  /** The license's seat count. */
  seats: number;
}

/** The outcome of reading a request body: the JSON object, or a sentence naming the fault. */
export type LicenseBodyResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; error: string };

/** A body's text, or `undefined` when it is not valid UTF-8. */
function bodyText(bytes: Uint8Array): string | undefined {
  try {
    return decodeStrictUtf8(bytes);
  } catch {
    return undefined;
  }
}

/** Parsed JSON text, or `undefined` when it is not JSON. */
function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads a request's string body as a JSON object; an empty body counts as `{}`.
 *
 * @example
 * ```ts
 * readLicenseRequestBody(new Uint8Array()); // { ok: true, value: {} }
 * readLicenseRequestBody(new TextEncoder().encode("[]"));
 * // { ok: false, error: "The string body must be a JSON object" }
 * ```
 */
export function readLicenseRequestBody(bytes: Uint8Array): LicenseBodyResult {
  const text = bodyText(bytes);
  if (text === undefined) return { ok: false, error: "The string body is not valid UTF-8" };
  if (text.trim() === "") return { ok: true, value: {} };
  const parsed = parseJson(text);
  if (!parsed) return { ok: false, error: "The string body is not valid JSON" };
  if (!isPlainObject(parsed.value)) {
    return { ok: false, error: "The string body must be a JSON object" };
  }
  return { ok: true, value: parsed.value };
}

const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_.:@-]+$/;
// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function checkText(
  value: unknown,
  options: { field: string; max: number; pattern?: RegExp },
): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > options.max) {
    return `Field ${options.field} must be a string of 1 to ${options.max} characters`;
  }
  if (CONTROL_CHARS.test(value)) {
    return `Field ${options.field} must not contain control characters`;
  }
  if (options.pattern && !options.pattern.test(value)) {
    return `Field ${options.field} may hold only letters, digits and _ . : @ -`;
  }
  return undefined;
}

/**
 * Checks a `LoginReq` body `{instanceId, host, user, wait}` against the limits above.
 *
 * @example
 * ```ts
 * validateLoginReq({ instanceId: "a b", host: "h", user: "u" });
 * // { ok: false, error: "Field instanceId may hold only letters, digits and _ . : @ -" }
 * ```
 */
export function validateLoginReq(
  body: Record<string, unknown>,
): { ok: true; login: LoginReq } | { ok: false; error: string } {
  const error = checkText(body.instanceId, {
    field: "instanceId",
    max: MAX_LICENSE_INSTANCE_ID_LENGTH,
    pattern: INSTANCE_ID_PATTERN,
  }) ??
    checkText(body.host, { field: "host", max: MAX_LICENSE_HOST_LENGTH }) ??
    checkText(body.user, { field: "user", max: MAX_LICENSE_USER_LENGTH });
  if (error) return { ok: false, error };
  if (body.wait !== undefined && typeof body.wait !== "boolean") {
    return { ok: false, error: "Field wait must be true or false" };
  }
  return {
    ok: true,
    login: {
      instanceId: body.instanceId as string,
      host: body.host as string,
      user: body.user as string,
      wait: body.wait === true,
    },
  };
}

type Check = "int" | "number" | "string" | "boolean";

/** The fields of each response beyond `state` and `msg`, with their checks. */
const RESPONSE_FIELDS: {
  [N in LicenseResponseName]: {
    [F in Exclude<keyof LicenseResponseBodies[N], keyof LicenseRspBase>]-?: Check;
  };
} = {
  HeartbeatRsp: { time: "number" },
  LoginRsp: { seats: "int", seatsLeft: "int", heartbeatMs: "int" },
  LogoutRsp: { seatsLeft: "int" },
  GetDogStatusRsp: {
    present: "boolean",
    valid: "boolean",
    expired: "boolean",
    customer: "string",
    seats: "int",
    expiresAt: "string",
  },
};

function fits(value: unknown, check: Check): boolean {
  switch (check) {
    case "int":
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
  }
}

/**
 * Reads and checks a response body. A response whose `state` is not OK may leave out the other
 * fields; those present must still have the right type.
 *
 * @example
 * ```ts
 * readLicenseResponse("LogoutRsp", new TextEncoder().encode('{"state":0,"msg":"No seat"}'));
 * // { ok: true, body: { state: 0, msg: "No seat" } }: a refusal may leave out seatsLeft
 * readLicenseResponse("LogoutRsp", new TextEncoder().encode('{"state":1}'));
 * // { ok: false, error: "The server's LogoutRsp field seatsLeft is missing or not a int" }
 * ```
 */
export function readLicenseResponse<N extends LicenseResponseName>(
  name: N,
  bytes: Uint8Array,
): { ok: true; body: LicenseResponseBodies[N] } | { ok: false; error: string } {
  const text = bodyText(bytes);
  const parsed = text === undefined ? undefined : parseJson(text);
  if (!parsed) return { ok: false, error: `The server's ${name} is not valid JSON` };
  if (!isPlainObject(parsed.value)) {
    return { ok: false, error: `The server's ${name} is not a JSON object` };
  }
  const body = parsed.value;
  if (!fits(body.state, "int")) {
    return { ok: false, error: `The server's ${name} has no state code` };
  }
  if (body.msg !== undefined && typeof body.msg !== "string") {
    return { ok: false, error: `The server's ${name} has a msg that is not a string` };
  }
  const fields: Record<string, Check> = RESPONSE_FIELDS[name];
  for (const [field, check] of Object.entries(fields)) {
    if (body.state !== State.OK && body[field] === undefined) continue;
    if (!fits(body[field], check)) {
      return {
        ok: false,
        error: `The server's ${name} field ${field} is missing or not a ${check}`,
      };
    }
  }
  if (name === "LoginRsp" && body.state === State.OK && (body.heartbeatMs as number) < 1) {
    return { ok: false, error: "The server's LoginRsp gives a heartbeat interval of 0 ms" };
  }
  return { ok: true, body: body as unknown as LicenseResponseBodies[N] };
}
