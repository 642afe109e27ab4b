/**
 * Group commit for PostgreSQL: the writes queued while a transaction is under way share the next
 * one, so a burst of requests pays one commit (one WAL flush) rather than one each, and every
 * write's promise settles only after the COMMIT that holds it.
 *
 * A write is an async function of the transaction's connection. Writes of one
 * {@linkcode PgBulkWrite} kind that stand next to each other in a batch run together as one
 * statement (say, one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING`), whose
 * kind checks each write's conflict inside the statement. A write may reject with an error of
 * its own ({@linkcode isOwnError}: a taken username, an account gone) that it raised before
 * changing anything: that write fails alone and the batch goes on. Any other error aborts the
 * PostgreSQL transaction (a failed statement does, a deadlock with another instance does); then
 * the batch is rolled back and each of its writes is run again in a transaction of its own, so a
 * bad write fails alone and the others commit.
 *
 * @example
 * ```ts ignore
 * const writer = new PgGroupCommit({ sql, isOwnError: (e) => e instanceof UsernameTakenError });
 * const n = await writer.write((tx) => tx`DELETE FROM tokens WHERE expires_at <= ${now}`.then((r) => r.count));
 * await writer.close();
 * ```
 * @module
 */

import type postgres from "postgres";
import {
  type BulkOutcome,
  checkedMaxBatch,
  type CommitReport,
  emptyCommitStats,
  type GroupCommitStats,
  settleCommitted,
  WriterClosedError,
} from "./commit_batches.ts";

/** A transaction's connection, as postgres.js hands it to `sql.begin`. */
export type Tx = postgres.TransactionSql<Record<string, never>>;

/** A write: runs inside the batch's transaction; its resolved value is the result. */
export type PgWriteOp<T> = (tx: Tx) => Promise<T>;

/** Writes that may run many at once: one outcome per item, in order. */
export interface PgBulkWrite<I, T> {
  run(tx: Tx, items: I[]): Promise<BulkOutcome<T>[]>;
}

/** Options of {@linkcode PgGroupCommit}. */
export interface PgGroupCommitOptions {
  sql: postgres.Sql<Record<string, never>>;
  /** Most writes in one transaction (default: group_commit.ts's `DEFAULT_MAX_BATCH`). */
  maxBatch?: number;
  /** Errors a write raises before changing anything: it fails alone, the batch goes on. */
  isOwnError: (error: unknown) => boolean;
  /** Told of each committed transaction. */
  onCommit?: (commit: CommitReport) => void;
}

interface Entry {
  op?: PgWriteOp<unknown>;
  bulk?: { kind: PgBulkWrite<unknown, unknown>; item: unknown };
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Batches writes into shared PostgreSQL transactions; see the module text. */
export class PgGroupCommit {
  #sql: postgres.Sql<Record<string, never>>;
  #maxBatch: number;
  #isOwnError: (error: unknown) => boolean;
  #onCommit?: (commit: CommitReport) => void;
  #queue: Entry[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #stats: GroupCommitStats = emptyCommitStats();

  constructor(options: PgGroupCommitOptions) {
    this.#sql = options.sql;
    this.#maxBatch = checkedMaxBatch(options.maxBatch);
    this.#isOwnError = options.isOwnError;
    this.#onCommit = options.onCommit;
  }

  /** A copy of the counters. */
  get stats(): GroupCommitStats {
    return { ...this.#stats };
  }

  /** Queues a write; settles once the transaction holding it has committed (or failed). */
  write<T>(op: PgWriteOp<T>): Promise<T> {
    return this.#push({ op: op as PgWriteOp<unknown> });
  }

  /** Queues a write of a bulk kind: it runs with the writes of its kind next to it. */
  writeBulk<I, T>(kind: PgBulkWrite<I, T>, item: I): Promise<T> {
    return this.#push({ bulk: { kind: kind as PgBulkWrite<unknown, unknown>, item } });
  }

  /** Takes no more writes and resolves once every queued one has settled. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running) await this.#running;
  }

  #push<T>(entry: Omit<Entry, "resolve" | "reject">): Promise<T> {
    if (this.#closed) return Promise.reject(new WriterClosedError());
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ ...entry, resolve: resolve as (value: unknown) => void, reject });
      this.#running ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    // One turn first: the writes of this event-loop turn join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      await this.#flush(this.#queue.splice(0, this.#maxBatch));
    }
    this.#running = undefined;
  }

  async #flush(batch: Entry[]): Promise<void> {
    const started = performance.now();
    let outcomes: BulkOutcome<unknown>[];
    try {
      outcomes = await this.#sql.begin((tx) =>
        this.#runAll(tx as unknown as Tx, batch)
      ) as BulkOutcome<unknown>[];
    } catch {
      // The transaction failed (a statement's error, a deadlock, a lost connection): nothing of
      // it is stored. Each write again, alone, so that only a bad one fails.
      this.#stats.failedCommits++;
      for (const entry of batch) await this.#flushAlone(entry);
      return;
    }
    this.#committed(batch, outcomes, started);
  }

  async #flushAlone(entry: Entry): Promise<void> {
    const started = performance.now();
    try {
      const outcomes = await this.#sql.begin((tx) =>
        this.#runAll(tx as unknown as Tx, [entry])
      ) as BulkOutcome<unknown>[];
      this.#committed([entry], outcomes, started);
    } catch (error) {
      this.#stats.failedWrites++;
      entry.reject(error);
    }
  }

  #committed(batch: Entry[], outcomes: BulkOutcome<unknown>[], started: number): void {
    settleCommitted(batch, { outcomes, started, stats: this.#stats, onCommit: this.#onCommit });
  }

  /** Runs a batch inside one transaction; throws (aborting it) on an error not the write's own. */
  async #runAll(tx: Tx, batch: Entry[]): Promise<BulkOutcome<unknown>[]> {
    const outcomes: BulkOutcome<unknown>[] = [];
    for (let i = 0; i < batch.length;) {
      const bulk = batch[i].bulk;
      if (bulk) {
        let end = i + 1;
        while (end < batch.length && batch[end].bulk?.kind === bulk.kind) end++;
        outcomes.push(...await bulk.kind.run(tx, batch.slice(i, end).map((e) => e.bulk!.item)));
        i = end;
        continue;
      }
      try {
        outcomes.push({ ok: true, value: await batch[i].op!(tx) });
      } catch (error) {
        if (!this.#isOwnError(error)) throw error;
        outcomes.push({ ok: false, error });
      }
      i++;
    }
    return outcomes;
  }
}
