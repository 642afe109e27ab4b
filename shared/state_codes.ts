/**
 * State codes carried by every response envelope (DESIGN.md, "State codes").
 *
 * @example
 * ```ts
 * import { State, stateName } from "./state_codes.ts";
 * stateName(State.TIMEOUT); // "TIMEOUT"
 * ```
 * @module
 */

/** The state codes of wire protocol v1. */
export const State = {
  OK: 1,
  FAIL: 0,
  UNDEFINED_CMD: 1001,
  SERVER_BUSY: 1002,
  SERVER_OFF: 1003,
  TIMEOUT: 1004,
  RATE_LIMITED: 1005,
  BAD_REQUEST: 1006,
  NOT_LOGGED_IN: 1007,
  FORBIDDEN: 1008,
} as const;

/** One of the numeric state codes in {@linkcode State}. */
export type StateCode = typeof State[keyof typeof State];

const NAMES = new Map<number, string>(
  Object.entries(State).map(([name, code]) => [code, name]),
);

/**
 * The name of a state code, or `UNKNOWN(<code>)` for a number outside the table.
 *
 * @example
 * ```ts
 * stateName(1002); // "SERVER_BUSY"
 * ```
 */
export function stateName(code: number): string {
  return NAMES.get(code) ?? `UNKNOWN(${code})`;
}

/** Whether a number is one of the protocol's state codes. */
export function isStateCode(code: unknown): code is StateCode {
  return typeof code === "number" && NAMES.has(code);
}
