/**
 * The body of an `Error` frame: JSON {code, msg}.
 *
 * @module
 */

import { State } from "./state_codes.ts";

/** What an `Error` frame carries. */
export interface ProtocolErrorBody {
  /** A state code, `BAD_REQUEST` for malformed input. */
  code: number;
  /** A sentence saying what was wrong. */
  msg: string;
}

/**
 * The string body of an `Error` frame.
 *
 * @example
 * ```ts
 * errorBody("Unknown message type 42"); // '{"code":1006,"msg":"Unknown message type 42"}'
 * ```
 */
export function errorBody(
  msg: string,
  code: number = State.BAD_REQUEST,
): string {
  return JSON.stringify({ code, msg } satisfies ProtocolErrorBody);
}
