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
  /** The soft open-file limit it came from; `undefined` when it could not be learned. */
  fdLimit?: number;
  /**
   * Where the limit came from: `/proc/self/limits` (readable with `--allow-all` only), a probe
   * that reached `EMFILE`, a probe that stopped at {@linkcode PROBE_CAP} (the limit is at least
   * that), or nowhere.
   */
  source: "proc" | "probe" | "probe capped" | "fallback";
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

/**
 * The most descriptors {@linkcode probeOpenFileLimit} opens. Each costs about 1.3 KiB of memory
 * while it is open (reused by connections later), so the probe learns small limits exactly (the
 * usual soft limit is 1,024) and stops here; past it the fallback applies and the accept loops'
 * back-off is the safety net.
 */
export const PROBE_CAP = 4096;

/**
 * The process's soft open-file limit, or `undefined` when it cannot be learned. Deno lets only
 * `--allow-all` read `/proc/self/limits` (any `/proc/<pid>/limits`, in fact), and our processes
 * run with narrower permissions: then the limit is probed ({@linkcode probeOpenFileLimit}).
 */
export function readOpenFileLimit(): { fdLimit?: number; source: ConnectionBudget["source"] } {
  try {
    const fdLimit = parseOpenFileLimit(Deno.readTextFileSync("/proc/self/limits"));
    return { fdLimit, source: fdLimit === undefined ? "fallback" : "proc" };
  } catch {
    const fdLimit = probeOpenFileLimit();
    if (fdLimit === undefined) return { source: "fallback" };
    return { fdLimit, source: fdLimit >= PROBE_CAP ? "probe capped" : "probe" };
  }
}

/**
 * Learns the open-file limit by opening `/dev/null` until `EMFILE` (at most
 * {@linkcode PROBE_CAP} times, ~25 µs each: 0.3 s at most), then closing them all: the count
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
 * The connection budget for an open-file limit (read from `/proc/self/limits`, or probed, when
 * not given): `(limit − 64) × 0.9`, at least 1; {@linkcode FALLBACK_MAX_CONNECTIONS} when the
 * limit is unknown or above {@linkcode PROBE_CAP} as far as a probe can tell.
 *
 * @example
 * ```ts
 * import { connectionBudget } from "./fd_budget.ts";
 * connectionBudget({ fdLimit: 256 }).maxConnections; // 172
 * ```
 */
export function connectionBudget(options: { fdLimit?: number } = {}): ConnectionBudget {
  const { fdLimit, source } = "fdLimit" in options
    ? { fdLimit: options.fdLimit, source: "proc" as const }
    : readOpenFileLimit();
  if (fdLimit === undefined) {
    return { maxConnections: FALLBACK_MAX_CONNECTIONS, source: "fallback" };
  }
  if (source === "probe capped") {
    // The limit is at least the cap; how much more is not known: the fallback.
    return { maxConnections: FALLBACK_MAX_CONNECTIONS, source };
  }
  return {
    maxConnections: Math.max(1, Math.floor((fdLimit - FD_RESERVE) * CLIENT_SHARE)),
    fdLimit,
    source,
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
