/**
 * What the two group-commit writers share (SQLite: group_commit.ts; PostgreSQL:
 * postgres_group_commit.ts): their batch cap, their counters, the outcome of a write in a bulk
 * statement, and the settling of a committed batch: the commit is counted and reported first,
 * then each write's promise resolves or rejects with its own outcome.
 *
 * @example
 * ```ts
 * import { emptyCommitStats, settleCommitted } from "./commit_batches.ts";
 * const stats = emptyCommitStats();
 * const heard: unknown[] = [];
 * settleCommitted([{ resolve: (v) => heard.push(v), reject: (e) => heard.push(e) }], {
 *   outcomes: [{ ok: true, value: 7 }],
 *   started: performance.now(),
 *   stats,
 * });
 * // stats.commits === 1, stats.writes === 1, heard = [7]
 * ```
 * @module
 */

/** The default cap on writes in one transaction. */
export const DEFAULT_MAX_BATCH = 1000;

/** One committed transaction, as a writer's `onCommit` hears it. */
export interface CommitReport {
  /** Writes in the transaction (those that failed alone included). */
  writes: number;
  /** From BEGIN to the end of COMMIT (its fsync included), in ms. */
  ms: number;
}

/**
 * What a bulk write (`BulkWrite` in group_commit.ts, `PgBulkWrite` in postgres_group_commit.ts)
 * says of one of its writes.
 */
export type BulkOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Counters, for logs and tests. */
export interface GroupCommitStats {
  /** Transactions committed. */
  commits: number;
  /** Writes that committed. */
  writes: number;
  /** Writes that failed alone (rolled back to their savepoint, or their one statement undone). */
  failedWrites: number;
  /** Transactions that failed as a whole. */
  failedCommits: number;
  /** The most writes one committed transaction held. */
  largestBatch: number;
  /** Tries to take the write lock that found it held by another connection (then retried). */
  lockBusy: number;
  /** Time batches waited for another connection's write lock, ms (the event loop running). */
  lockWaitMs: number;
}

/** Counters at zero, for a new writer. */
export function emptyCommitStats(): GroupCommitStats {
  return {
    commits: 0,
    writes: 0,
    failedWrites: 0,
    failedCommits: 0,
    largestBatch: 0,
    lockBusy: 0,
    lockWaitMs: 0,
  };
}

/**
 * A writer's `maxBatch` option: {@linkcode DEFAULT_MAX_BATCH} when absent; throws a `RangeError`
 * when it is not a positive integer.
 */
export function checkedMaxBatch(maxBatch: number | undefined): number {
  const value = maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`maxBatch must be a positive integer, not ${value}`);
  }
  return value;
}

/** The writer was closed: no more writes are taken. */
export class WriterClosedError extends Error {
  constructor() {
    super("The database writer is closed");
    this.name = "WriterClosedError";
  }
}

/** A queued write's promise, as a writer holds it. */
export interface QueuedWrite {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Options of {@linkcode settleCommitted}. */
export interface SettleOptions {
  /** One per write of the batch, in order. */
  outcomes: readonly BulkOutcome<unknown>[];
  /** `performance.now()` at the batch's BEGIN. */
  started: number;
  /** The writer's counters, updated. */
  stats: GroupCommitStats;
  /** Told of the commit before any write settles; its faults are swallowed. */
  onCommit?: (commit: CommitReport) => void;
}

/**
 * Settles the writes of a committed batch: counts the commit and tells `onCommit` (a listener's
 * fault must not undo a commit), then resolves each write that succeeded and rejects each that
 * failed alone, counting both.
 */
export function settleCommitted(batch: readonly QueuedWrite[], options: SettleOptions): void {
  const { outcomes, started, stats } = options;
  stats.commits++;
  stats.largestBatch = Math.max(stats.largestBatch, batch.length);
  try {
    options.onCommit?.({ writes: batch.length, ms: performance.now() - started });
  } catch { /* a listener's fault must not undo a commit */ }
  batch.forEach((entry, i) => {
    const outcome = outcomes[i];
    if (outcome.ok) {
      stats.writes++;
      entry.resolve(outcome.value);
    } else {
      stats.failedWrites++;
      entry.reject(outcome.error);
    }
  });
}
