/**
 * A logger for unit tests that keeps the event of every info, warning and error line, in order
 * (debug lines are dropped).
 *
 * @example
 * ```ts ignore
 * const { log, lines } = eventLog();
 * log.warn("database unreachable");
 * lines; // ["database unreachable"]
 * ```
 * @module
 */

import type { Logger } from "../../server/log.ts";

/** A {@linkcode Logger} and the events it was given. */
export function eventLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = {
    debug() {},
    info: (event) => lines.push(event),
    warn: (event) => lines.push(event),
    error: (event) => lines.push(event),
  };
  return { log, lines };
}
