/**
 * Sockets are a budget: how many connections a process may hold, derived from its open-file
 * limit (`ulimit -n`) with room left for files, service links, NATS and the runtime.
 *
 * @example
 * ```ts
 * import { connectionBudget } from "./fd_budget.ts";
 * const budget = connectionBudget();
 * console.log(`max connections ${budget.maxConnections} (fd limit ${budget.fdLimit})`);
 * ```
 * @module
 */

/** File descriptors kept for everything that is not a client socket. */
export const FD_RESERVE = 64;

/** The share of the rest that clients may hold; the others are for refusing politely. */
export const CLIENT_SHARE = 0.9;

/** The limit used when the open-file limit cannot be read (not Linux, no read permission). */
export const FALLBACK_MAX_CONNECTIONS = 10_000;

/** What a process may hold. */
export interface ConnectionBudget {
  /** The default `--max-connections`. */
  maxConnections: number;
  /** The soft open-file limit it came from; `undefined` when it could not be read. */
  fdLimit?: number;
}

/**
 * The soft "Max open files" limit in the text of `/proc/self/limits`, or `undefined` when the
 * line is missing or says `unlimited`.
 *
 * @example
 * ```ts
 * import { parseOpenFileLimit } from "./fd_budget.ts";
 * parseOpenFileLimit("Max open files            1024                 4096                 files");
 * // 1024
 * ```
 */
export function parseOpenFileLimit(text: string): number | undefined {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!match) return undefined;
  const soft = Number(match[1]);
  return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
}

/** The most descriptors {@linkcode probeOpenFileLimit} opens. */
export const PROBE_CAP = 16_384;

/**
 * The process's soft open-file limit, or `undefined` when it cannot be learned. Deno lets only
 * `--allow-all` read `/proc/self/limits` (any `/proc/<pid>/limits`, in fact), and our processes
 * run with narrower permissions: then the limit is probed ({@linkcode probeOpenFileLimit}).
 */
export function readOpenFileLimit(): number | undefined {
  try {
    return parseOpenFileLimit(Deno.readTextFileSync("/proc/self/limits"));
  } catch {
    return probeOpenFileLimit();
  }
}

/**
 * Learns the open-file limit by opening `/dev/null` until `EMFILE` (at most
 * {@linkcode PROBE_CAP} times, ~25 µs each: 0.4 s at most), then closing them all: the count
 * plus the three standard streams. Meant for start-up, before any client is served. `undefined` when
 * `/dev/null` cannot be opened; {@linkcode PROBE_CAP} when the limit is at least that.
 */
export function probeOpenFileLimit(): number | undefined {
  const files: Deno.FsFile[] = [];
  let capped = true;
  try {
    while (files.length < PROBE_CAP) files.push(Deno.openSync("/dev/null"));
  } catch {
    capped = false;
  } finally {
    for (const file of files) file.close();
  }
  if (files.length === 0) return undefined;
  // What was open before is not readable either (/dev/fd is /proc/self/fd): count the three
  // standard streams, which errs low by the runtime's own few (epoll, eventfd, …).
  return capped ? PROBE_CAP : files.length + 3;
}

/**
 * The connection budget for an open-file limit (read from `/proc/self/limits` when not given):
 * `(limit − 64) × 0.9`, at least 1; {@linkcode FALLBACK_MAX_CONNECTIONS} when the limit is
 * unknown.
 *
 * @example
 * ```ts
 * import { connectionBudget } from "./fd_budget.ts";
 * connectionBudget({ fdLimit: 256 }).maxConnections; // 172
 * ```
 */
export function connectionBudget(options: { fdLimit?: number } = {}): ConnectionBudget {
  const fdLimit = "fdLimit" in options ? options.fdLimit : readOpenFileLimit();
  if (fdLimit === undefined) return { maxConnections: FALLBACK_MAX_CONNECTIONS };
  return {
    maxConnections: Math.max(1, Math.floor((fdLimit - FD_RESERVE) * CLIENT_SHARE)),
    fdLimit,
  };
}

/**
 * How many sockets a process may have open at once, counting those it is refusing: past
 * `maxConnections` a new socket is refused politely (it is told why) up to this ceiling, and
 * closed at once beyond it, so that the refusals themselves cannot exhaust the descriptors.
 * An explicit limit above the fd budget is kept: then `accept` may fail with `EMFILE`, and the
 * accept loop backs off until descriptors are free again.
 */
export function socketCeiling(options: { maxConnections: number; fdLimit?: number }): number {
  const { maxConnections, fdLimit } = options;
  const fromFds = fdLimit === undefined ? 2 * maxConnections + FD_RESERVE : fdLimit - FD_RESERVE;
  return Math.max(maxConnections + 1, fromFds);
}
