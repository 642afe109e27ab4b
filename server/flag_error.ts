/**
 * What every process prints for flags it cannot use: the reason in one line and a hint, on
 * stderr, not the whole help (which `--help` prints).
 *
 * @example
 * ```ts
 * import { printFlagError } from "./flag_error.ts";
 * printFlagError("Flag --port must be a port from 0 to 65535, not \"x\"");
 * // Flag --port must be a port from 0 to 65535, not "x"
 * // Run with --help for the flags
 * ```
 * @module
 */

/** The line after a flag error. */
export const FLAG_HINT = "Run with --help for the flags";

/** The text printed for a flag error: the message, then the hint. */
export function flagErrorText(message: string): string {
  return `${message}\n${FLAG_HINT}`;
}

/** Prints a flag error and the hint on stderr. */
export function printFlagError(message: string): void {
  console.error(flagErrorText(message));
}
