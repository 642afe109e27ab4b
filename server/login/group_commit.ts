/**
 * Group commit for SQLite: many small writes share one transaction, so that a burst of requests
 * pays one fsync rather than one each, and every write's promise resolves only after the COMMIT
 * that holds it has returned (with `synchronous=FULL`, after the fsync).
 *
 * The algorithm. Writes are synchronous closures put on a queue. The first write into an empty
 * queue schedules a flush on a later macrotask (a timer), so that every write that arrives before
 * it (from other requests, from hashes finishing on the thread pool, from the network) joins the
 * same batch. A flush takes up to `maxBatch` writes and runs `BEGIN IMMEDIATE`, then each write
 * inside its own `SAVEPOINT` (a write that throws is rolled back to its savepoint and fails
 * alone), then `COMMIT`. Only then are the promises settled: the successful ones resolve, the
 * failed ones reject with their own error. When BEGIN or COMMIT fails, or a write's error takes
 * the whole transaction down, every write of the batch rejects: none of them is on disk. Writes
 * queued while a flush runs (node:sqlite is synchronous, so they are the ones that arrived during
 * the commit and the continuations of the batch just settled) form the next batch, scheduled the
 * same way.
 *
 * A write marked `oneStatement` changes the database through at most one statement and runs
 * without a savepoint: SQLite makes each statement atomic, and a statement that fails with the
 * default `ABORT` conflict handling (a UNIQUE violation, say) is undone alone while the
 * transaction stays open, which is all the savepoint would have done. The savepoint pair costs
 * about as much as a one-row INSERT (bench/FINDINGS.md, findings 5 and 9), so the login service's
 * account inserts skip it. When a failed statement took the whole transaction with it (some I/O
 * errors do), the batch fails as a whole, as above.
 *
 * Writes of one {@linkcode BulkWrite} kind that stand next to each other in a batch run together,
 * through the kind's `run` (say, one multi-row `INSERT OR IGNORE … RETURNING`): the kind checks
 * each write's conflict inside the statement (a row not returned was a taken key) and fails only
 * that write, so there is still no savepoint per write. When the shared statement fails as a whole
 * while the transaction stays open, each write of the run is tried again alone, so a bad one
 * fails alone.
 *
 * The flush runs on the event loop thread: while it commits, nothing else runs, so no read on the
 * same connection can see an uncommitted row.
 *
 * Another connection (a second login instance on the same file) may hold the write lock. The
 * flush's `BEGIN IMMEDIATE` then does not wait for it inside the call (SQLite's busy handler
 * sleeps on the calling thread, and node:sqlite runs on the event loop, so hashes finishing,
 * requests arriving and every timer would stop meanwhile): it runs with `busy_timeout` 0, and on
 * "database is locked" the batch goes back to the head of the queue and is tried again after an
 * async delay (1 ms, doubling up to {@linkcode MAX_LOCK_RETRY_MS}). Writes queued meanwhile join
 * it. Only when the lock stayed taken longer than the connection's own `busy_timeout` (read
 * when the writer is made) does the batch fail, each write with "database is locked". Nothing is
 * settled before its COMMIT, so an OK still means committed. `close` waits in the busy handler.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * const db = new DatabaseSync("/tmp/x.sqlite");
 * const writer = new GroupCommit({ db });
 * const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
 * const id = await writer.write(() => Number(insert.run("a").lastInsertRowid), {
 *   oneStatement: true,
 * }); // committed
 * await writer.close();
 * ```
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type BulkOutcome,
  checkedMaxBatch,
  type CommitReport,
  emptyCommitStats,
  type GroupCommitStats,
  settleCommitted,
  WriterClosedError,
} from "./commit_batches.ts";

/** A write: runs synchronously inside the batch's transaction; its return value is the result. */
export type WriteOp<T> = () => T;

/** Longest async delay between two tries to take a write lock another connection holds, ms. */
export const MAX_LOCK_RETRY_MS = 8;

/** Options of {@linkcode GroupCommit}. */
export interface GroupCommitOptions {
  db: DatabaseSync;
  /**
   * Most writes in one transaction: a positive integer, default `DEFAULT_MAX_BATCH` (1000).
   * `1` commits each write in a transaction of its own (no group commit), which is what the
   * benchmark's baseline runs.
   */
  maxBatch?: number;
  /** Told of each committed transaction: how many writes it held and how long it took (ms). */
  onCommit?: (commit: CommitReport) => void;
}

/** Options of {@linkcode GroupCommit.write}. */
export interface WriteOptions {
  /**
   * The write changes the database through at most one statement, so SQLite's statement
   * atomicity undoes it when it throws: it runs without a savepoint of its own (cheaper). Leave
   * it unset for a write of several statements, or one that may throw after a statement ran.
   */
  oneStatement?: boolean;
}

/**
 * A kind of write that may run many at once in one statement (see the module text). `run` runs
 * synchronously inside the open transaction and returns one outcome per item, in order; it throws
 * only when its statement failed as a whole (SQLite then undid that statement alone).
 */
export interface BulkWrite<I, T> {
  run(items: I[]): BulkOutcome<T>[];
}

interface Entry {
  op?: WriteOp<unknown>;
  bulk?: { kind: BulkWrite<unknown, unknown>; item: unknown };
  oneStatement: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; error: unknown; broken: boolean };

/** Batches writes into shared transactions; see the module text for the algorithm. */
export class GroupCommit {
  #db: DatabaseSync;
  #maxBatch: number;
  #onCommit?: (commit: CommitReport) => void;
  #queue: Entry[] = [];
  #timer: { cancel(): void } | undefined;
  /** The connection's busy_timeout: the longest wait for another connection's lock, ms. */
  #busyTimeoutMs: number;
  /** When the head batch first found the lock taken; `undefined` when it did not. */
  #lockWaitSince: number | undefined;
  #lockRetries = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #begin: StatementSync;
  #commit: StatementSync;
  #rollback: StatementSync;
  #savepoint: StatementSync;
  #release: StatementSync;
  #rollbackTo: StatementSync;
  #stats: GroupCommitStats = emptyCommitStats();

  constructor(options: GroupCommitOptions) {
    this.#db = options.db;
    this.#maxBatch = checkedMaxBatch(options.maxBatch);
    this.#onCommit = options.onCommit;
    this.#begin = this.#db.prepare("BEGIN IMMEDIATE");
    this.#commit = this.#db.prepare("COMMIT");
    this.#rollback = this.#db.prepare("ROLLBACK");
    this.#savepoint = this.#db.prepare("SAVEPOINT write_op");
    this.#release = this.#db.prepare("RELEASE write_op");
    this.#rollbackTo = this.#db.prepare("ROLLBACK TO write_op");
    const { timeout } = this.#db.prepare("PRAGMA busy_timeout").get() as { timeout: number };
    this.#busyTimeoutMs = Number(timeout);
  }

  /** A copy of the counters. */
  get stats(): GroupCommitStats {
    return { ...this.#stats };
  }

  /** Writes waiting for the next transaction. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Queues a write. Resolves with its result once the transaction holding it has committed;
   * rejects with its own error when it threw (the others of its batch still commit), or with the
   * transaction's error when the batch could not commit.
   */
  write<T>(op: WriteOp<T>, options?: WriteOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new WriterClosedError());
    const oneStatement = options?.oneStatement === true;
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ op, oneStatement, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Queues a write of a bulk kind: it runs with the writes of the same kind next to it in its
   * batch, through one `kind.run`. Settles as {@linkcode write} does.
   */
  writeBulk<I, T>(kind: BulkWrite<I, T>, item: I): Promise<T> {
    if (this.#closed) return Promise.reject(new WriterClosedError());
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        bulk: { kind: kind as BulkWrite<unknown, unknown>, item },
        oneStatement: true,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.#schedule();
    });
  }

  /** Resolves once the queue is empty (every write so far has settled). */
  drained(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Takes no more writes, commits what is queued, and resolves when that is done. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    // Waiting in SQLite's busy handler now: nothing else is left to run.
    while (this.#queue.length > 0) this.#flush({ wait: true });
    await Promise.resolve();
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    // setImmediate, not setTimeout(0): it runs once this turn's I/O is read (so writes that
    // arrived together share the batch) without the ~2 ms a zero timer costs here
    // (bench/FINDINGS.md, finding 4).
    const run = () => {
      this.#timer = undefined;
      this.#flush({ wait: false });
      if (this.#queue.length > 0) this.#schedule();
      else for (const wake of this.#idleWaiters.splice(0)) wake();
    };
    if (this.#lockWaitSince !== undefined) {
      // Another connection holds the write lock: try again after an async delay.
      const delay = Math.min(MAX_LOCK_RETRY_MS, 2 ** Math.min(this.#lockRetries - 1, 10));
      const timeout = setTimeout(run, delay);
      this.#timer = { cancel: () => clearTimeout(timeout) };
      return;
    }
    const immediate = setImmediate(run);
    this.#timer = { cancel: () => clearImmediate(immediate) };
  }

  /**
   * Takes the write lock: with `wait`, in SQLite's busy handler (up to busy_timeout); without,
   * at once or not at all. Resolves `"busy"` when another connection holds it and the batch may
   * wait longer, or the error that fails the batch.
   */
  #takeLock(wait: boolean): "taken" | "busy" | { error: unknown } {
    const noWait = !wait && this.#busyTimeoutMs > 0;
    try {
      // exec, not a prepared statement: SQLite applies this PRAGMA when it compiles it.
      if (noWait) this.#db.exec("PRAGMA busy_timeout = 0");
      try {
        this.#begin.run();
      } finally {
        if (noWait) this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
      }
    } catch (error) {
      const locked = error instanceof Error && /database is locked/.test(error.message);
      if (!locked || wait || this.#busyTimeoutMs === 0) return { error };
      const now = performance.now();
      this.#lockWaitSince ??= now;
      if (now - this.#lockWaitSince < this.#busyTimeoutMs) {
        this.#stats.lockBusy++;
        this.#lockRetries++;
        return "busy";
      }
      this.#lockDone(now);
      return { error };
    }
    this.#lockDone(performance.now());
    return "taken";
  }

  #lockDone(now: number): void {
    if (this.#lockWaitSince !== undefined) this.#stats.lockWaitMs += now - this.#lockWaitSince;
    this.#lockWaitSince = undefined;
    this.#lockRetries = 0;
  }

  /** Commits one batch, synchronously, then settles its promises. */
  #flush(options: { wait: boolean }): void {
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (batch.length === 0) return;
    const started = performance.now();
    const outcomes: Outcome[] = [];
    let fatal: unknown;
    const lock = this.#takeLock(options.wait);
    if (lock === "busy") {
      // Back to the head of the queue, untouched: the next try takes it with what came meanwhile.
      this.#queue.unshift(...batch);
      return;
    }
    if (lock !== "taken") fatal = lock.error;
    for (let i = 0; i < batch.length && fatal === undefined;) {
      const entry = batch[i];
      let run: Outcome[];
      if (entry.bulk) {
        let end = i + 1;
        while (end < batch.length && batch[end].bulk?.kind === entry.bulk.kind) end++;
        run = this.#runBulk(entry.bulk.kind, batch.slice(i, end));
        i = end;
      } else {
        run = [this.#runOne(entry)];
        i++;
      }
      for (const outcome of run) {
        outcomes.push(outcome);
        if (!outcome.ok && outcome.broken) {
          // The write's error took the whole transaction down (SQLite does this for some I/O
          // errors), or its savepoint could not be rolled back: nothing of the batch can commit.
          fatal = outcome.error;
        }
      }
    }
    if (fatal === undefined) {
      try {
        this.#commit.run();
      } catch (error) {
        fatal = error;
      }
    }
    if (fatal !== undefined) {
      if (this.#db.isTransaction) {
        try {
          this.#rollback.run();
        } catch { /* the transaction is gone either way */ }
      }
      this.#stats.failedCommits++;
      for (const entry of batch) entry.reject(fatal);
      return;
    }
    settleCommitted(batch, { outcomes, started, stats: this.#stats, onCommit: this.#onCommit });
  }

  /** Writes of one bulk kind together; on a failure of the whole statement, each alone. */
  #runBulk(kind: BulkWrite<unknown, unknown>, entries: Entry[]): Outcome[] {
    const items = entries.map((entry) => entry.bulk!.item);
    try {
      return kind.run(items).map((outcome) =>
        outcome.ok ? outcome : { ok: false, error: outcome.error, broken: false }
      );
    } catch (error) {
      if (!this.#db.isTransaction) return entries.map(() => ({ ok: false, error, broken: true }));
    }
    return items.map((item) => {
      try {
        const [outcome] = kind.run([item]);
        return outcome.ok ? outcome : { ok: false, error: outcome.error, broken: false };
      } catch (error) {
        return { ok: false, error, broken: !this.#db.isTransaction };
      }
    });
  }

  #runOne(entry: Entry): Outcome {
    if (entry.oneStatement) return this.#runBare(entry);
    try {
      this.#savepoint.run();
    } catch (error) {
      return { ok: false, error, broken: true };
    }
    try {
      const value = entry.op!();
      if (value instanceof Promise) {
        throw new TypeError("A write must be synchronous: it returned a promise");
      }
      this.#release.run();
      return { ok: true, value };
    } catch (error) {
      if (!this.#db.isTransaction) return { ok: false, error, broken: true };
      try {
        this.#rollbackTo.run();
        this.#release.run();
      } catch {
        return { ok: false, error, broken: true };
      }
      return { ok: false, error, broken: false };
    }
  }

  /** A one-statement write: no savepoint; a failed statement is undone by SQLite alone. */
  #runBare(entry: Entry): Outcome {
    try {
      const value = entry.op!();
      if (value instanceof Promise) {
        // Its statement may have run, and nothing can undo it alone: the batch must not commit.
        const error = new TypeError("A write must be synchronous: it returned a promise");
        return { ok: false, error, broken: true };
      }
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error, broken: !this.#db.isTransaction };
    }
  }
}
