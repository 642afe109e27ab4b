/**
 * The string bodies of the license frames (DESIGN.md, "License message bodies"), the checks of
 * what clients send, and the two uses of the `Envelope` type on the license port.
 *
 * Beyond the table's license types, the license port speaks two envelopes (type `Envelope`):
 * - request `license_status` (`data: {audit?: 0..1000}`), answered by a response whose `data` is
 *   a {@linkcode StatusData}: the dog, the seats held, the queue, and the latest audit events.
 *   `deno task license:status` uses it; any connection may send it, logged in or not.
 * - push `license_queued` (`data: {position, seats}`), sent to a login that asked to wait when
 *   it enters the queue; its `LoginRsp` follows when a seat is granted.
 *
 * @module
 */

import type { AuditEntry } from "./audit_log.ts";
import type { SeatClaim } from "./seat_pool.ts";

/** Command of the status request envelope. */
export const STATUS_CMD = "license_status";

/** Command of the push a waiting login receives when it is queued. */
export const QUEUED_PUSH = "license_queued";

/** Most audit events a status request may ask for. */
export const MAX_STATUS_AUDIT = 1000;

/** Longest instance id. */
export const MAX_INSTANCE_ID_LENGTH = 128;

/** Longest host name in a login. */
export const MAX_HOST_LENGTH = 255;

/** Longest user name in a login. */
export const MAX_USER_LENGTH = 128;

const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_.:@-]+$/;
// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** A checked `LoginReq` body. */
export interface LoginRequest extends SeatClaim {
  /** Queue the login when no seat is free. */
  wait: boolean;
}

/** The body of a `LoginRsp`. */
export interface LoginResponse {
  /** A state code. */
  state: number;
  /** Why, when `state` is not OK. */
  msg?: string;
  /** The license's seat count. */
  seats: number;
  /** Seats free after this login. */
  seatsLeft: number;
  /** The heartbeat interval both sides use. */
  heartbeatMs: number;
}

/** A seat as the status request reports it. */
export interface StatusSeat extends SeatClaim {
  /** The connection's peer address. */
  remote: string;
  /** When the seat was granted (or the login queued), ISO 8601. */
  since: string;
  /** When the connection last sent a frame, ISO 8601. */
  lastHeartbeat: string;
}

/** The `data` of the `license_status` response. */
export interface StatusData {
  /** The license file's status. */
  dog: {
    present: boolean;
    valid: boolean;
    expired: boolean;
    customer: string;
    seats: number;
    expiresAt: string;
    reason?: string;
  };
  /** Seats the license grants now. */
  seats: number;
  /** Seats held. */
  seatsUsed: number;
  /** Seats free. */
  seatsLeft: number;
  /** The heartbeat interval. */
  heartbeatMs: number;
  /** Open connections. */
  connections: number;
  /** The seats held, oldest first. */
  holders: StatusSeat[];
  /** The logins waiting, first in line first. */
  waiting: StatusSeat[];
  /** The latest audit events asked for, oldest first. */
  audit: AuditEntry[];
}

/** The outcome of reading a body: the JSON object, or a sentence naming the fault. */
export type BodyResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; error: string };

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** Reads a string body as a JSON object; an empty body counts as `{}`. */
export function readObjectBody(bytes: Uint8Array): BodyResult {
  let text: string;
  try {
    text = strictDecoder.decode(bytes);
  } catch {
    return { ok: false, error: "The string body is not valid UTF-8" };
  }
  if (text.trim() === "") return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "The string body is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: "The string body must be a JSON object" };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

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

/** Checks a `LoginReq` body `{instanceId, host, user, wait}`. */
export function validateLoginRequest(
  body: Record<string, unknown>,
): { ok: true; login: LoginRequest } | { ok: false; error: string } {
  const error = checkText(body.instanceId, {
    field: "instanceId",
    max: MAX_INSTANCE_ID_LENGTH,
    pattern: INSTANCE_ID_PATTERN,
  }) ??
    checkText(body.host, { field: "host", max: MAX_HOST_LENGTH }) ??
    checkText(body.user, { field: "user", max: MAX_USER_LENGTH });
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

/** Checks the `data` of a `license_status` request; returns how many audit events to send. */
export function validateStatusRequest(
  data: unknown,
): { ok: true; audit: number } | { ok: false; error: string } {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return { ok: false, error: "Field data must be a JSON object" };
  }
  const audit = (data as Record<string, unknown>).audit ?? 0;
  if (
    typeof audit !== "number" || !Number.isSafeInteger(audit) || audit < 0 ||
    audit > MAX_STATUS_AUDIT
  ) {
    return { ok: false, error: `Field audit must be a whole number from 0 to ${MAX_STATUS_AUDIT}` };
  }
  return { ok: true, audit };
}

/** `"No seats can be granted because the license file is missing"` from the dog's reason. */
export function noLicenseMessage(reason: string | undefined): string {
  const text = reason ?? "The license is not valid";
  return `No seats can be granted because ${text[0].toLowerCase()}${text.slice(1)}`;
}
