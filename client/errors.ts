/**
 * Typed errors of the client library.
 *
 * @module
 */

import { stateName } from "../shared/mod.ts";

/** A request got no answer within its timeout. */
export class RequestTimeoutError extends Error {
  readonly cmd: string;
  readonly timeoutMs: number;
  constructor(cmd: string, timeoutMs: number) {
    super(`No answer to ${cmd} within ${timeoutMs} ms`);
    this.name = "RequestTimeoutError";
    this.cmd = cmd;
    this.timeoutMs = timeoutMs;
  }
}

/** The connection was lost with the request in flight: it may or may not have run. */
export class ConnectionLostError extends Error {
  readonly cmd: string;
  constructor(cmd: string) {
    super(`The connection was lost before ${cmd} was answered`);
    this.name = "ConnectionLostError";
    this.cmd = cmd;
  }
}

/** The client was closed by its owner. */
export class ClientClosedError extends Error {
  constructor() {
    super("The client is closed");
    this.name = "ClientClosedError";
  }
}

/** A response whose state is not OK, thrown by the `*Ok` helpers. */
export class ResponseError extends Error {
  readonly state: number;
  readonly cmd: string;
  /** The response's `msg`: why, in words a user can read ("" when it gave none). */
  readonly msg: string;
  constructor(options: { cmd: string; state: number; msg?: string }) {
    super(`${options.cmd} failed with ${stateName(options.state)}: ${options.msg ?? ""}`.trimEnd());
    this.name = "ResponseError";
    this.state = options.state;
    this.cmd = options.cmd;
    this.msg = options.msg ?? "";
  }
}

/** A service handler throws this to answer with a given state and message. */
export class ServiceError extends Error {
  readonly state: number;
  constructor(state: number, msg: string) {
    super(msg);
    this.name = "ServiceError";
    this.state = state;
  }
}
