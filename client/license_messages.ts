/**
 * The license responses as the client reads them (DESIGN.md, "License message bodies"): their
 * types and a check of each, so that a malformed answer is an error with a sentence, not a
 * crash further on.
 *
 * @module
 */

/** Names of the response types. */
export type ResponseName = "HeartbeatRsp" | "LoginRsp" | "LogoutRsp" | "GetDogStatusRsp";

/** Fields every license response has. */
export interface LicenseRspBase {
  /** A state code: 1 OK, 0 refused (see `msg`), 1006 bad request… */
  state: number;
  /** Why, when `state` is not OK. */
  msg?: string;
}

/** The body of `HeartbeatRsp`. */
export interface HeartbeatRsp extends LicenseRspBase {
  /** The server's clock, ms since epoch. */
  time: number;
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
export interface DogStatusRsp extends LicenseRspBase {
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

/** An error of the license client: a lost connection, a timeout, a malformed answer. */
export class LicenseClientError extends Error {
  /** A state code when the server gave one (an `Error` frame), or `TIMEOUT`. */
  readonly code?: number;
  /** An error with a sentence and, when known, a state code. */
  constructor(message: string, code?: number) {
    super(message);
    this.name = "LicenseClientError";
    this.code = code;
  }
}

type Check = "int" | "number" | "string" | "boolean";

const FIELDS: Record<ResponseName, Record<string, Check>> = {
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
 */
export function readResponse(
  name: ResponseName,
  bytes: Uint8Array,
): { ok: true; body: LicenseRspBase } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, error: `The server's ${name} is not valid JSON` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: `The server's ${name} is not a JSON object` };
  }
  const body = value as Record<string, unknown>;
  if (!fits(body.state, "int")) {
    return { ok: false, error: `The server's ${name} has no state code` };
  }
  if (body.msg !== undefined && typeof body.msg !== "string") {
    return { ok: false, error: `The server's ${name} has a msg that is not a string` };
  }
  for (const [field, check] of Object.entries(FIELDS[name])) {
    if (body.state !== 1 && body[field] === undefined) continue;
    if (!fits(body[field], check)) {
      return {
        ok: false,
        error: `The server's ${name} field ${field} is missing or not a ${check}`,
      };
    }
  }
  if (name === "LoginRsp" && body.state === 1 && (body.heartbeatMs as number) < 1) {
    return { ok: false, error: "The server's LoginRsp gives a heartbeat interval of 0 ms" };
  }
  return { ok: true, body: body as unknown as LicenseRspBase };
}
