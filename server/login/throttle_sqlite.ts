/**
 * The failed-login throttle's records in a SQLite file of their own,
 * `<data-dir>/login_throttle.sqlite`, for the single machine (`login_throttle.ts`,
 * {@linkcode ThrottleStore}). Kept across restarts because users expect a lock to hold: a
 * guesser must not get a fresh set of attempts, nor a locked-out address a clean slate, because
 * the service was restarted (by an operator, a crash, or the guesser's own doing). A file apart
 * from the accounts, so that it works whichever account store is used, and several instances on
 * one machine share it (`busy_timeout` waits for a writer). `synchronous=NORMAL`: a power loss
 * may lose the last failures counted, never corrupt the file. Records old enough to forget are
 * deleted every {@linkcode PRUNE_EVERY_MS}, and past `maxEntries` × 2 rows the oldest go.
 *
 * @example
 * ```ts ignore
 * const store = await SqliteThrottleStore.open({ path: "data/login_throttle.sqlite" });
 * const throttle = new LoginThrottle({ store });
 * ```
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { DEFAULT_THROTTLE_POLICY, type ThrottlePolicy } from "./login_throttle.ts";
import type { ThrottleRecord, ThrottleStore } from "./throttle_store.ts";
import { openWhileLocked } from "./sqlite_open.ts";

/** How often forgettable records are deleted. */
export const PRUNE_EVERY_MS = 60_000;

const SCHEMA = `CREATE TABLE IF NOT EXISTS throttle (
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_failure_at INTEGER NOT NULL,
  locked_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS throttle_last ON throttle (last_failure_at);`;

/** Throttle records in SQLite. */
export class SqliteThrottleStore implements ThrottleStore {
  #db: DatabaseSync;
  #get: StatementSync;
  #put: StatementSync;
  #delete: StatementSync;
  #policy: ThrottlePolicy;
  #now: () => number;
  #lastPrune = 0;

  private constructor(
    db: DatabaseSync,
    options: { policy: ThrottlePolicy; now: () => number },
  ) {
    this.#db = db;
    this.#policy = options.policy;
    this.#now = options.now;
    this.#get = db.prepare(
      "SELECT failures, last_failure_at, locked_until FROM throttle WHERE key = ?",
    );
    this.#put = db.prepare(
      "INSERT OR REPLACE INTO throttle (key, failures, last_failure_at, locked_until) " +
        "VALUES (?, ?, ?, ?)",
    );
    this.#delete = db.prepare("DELETE FROM throttle WHERE key = ?");
  }

  /**
   * Opens (creating when absent) the file. Throws a sentence naming it when it cannot. Instances
   * starting together on one data dir may find the file locked while another one creates it: the
   * open is tried again for up to 5 s (sqlite_open.ts).
   */
  static open(
    options: { path: string; policy?: Partial<ThrottlePolicy>; now?: () => number },
  ): Promise<SqliteThrottleStore> {
    return openWhileLocked(() => SqliteThrottleStore.#openOnce(options));
  }

  static #openOnce(
    options: { path: string; policy?: Partial<ThrottlePolicy>; now?: () => number },
  ): SqliteThrottleStore {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(options.path);
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      // The schema under the write lock: taken first, it waits (busy_timeout) for another
      // instance creating the same file, whereas a read upgraded to a write by CREATE TABLE
      // would fail at once with "database is locked" when that instance wrote meanwhile.
      db.exec("BEGIN IMMEDIATE");
      try {
        db.exec(SCHEMA);
        db.exec("COMMIT");
      } catch (error) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw error;
      }
    } catch (error) {
      db?.close();
      throw new Error(
        `Cannot open the throttle database ${options.path}: ${(error as Error).message}`,
      );
    }
    return new SqliteThrottleStore(db, {
      policy: { ...DEFAULT_THROTTLE_POLICY, ...options.policy },
      now: options.now ?? Date.now,
    });
  }

  /** The record of `key`, `undefined` when none. */
  get(key: string): Promise<ThrottleRecord | undefined> {
    return Promise.resolve(this.#read(key));
  }

  /** Replaces the record of `key` by `change(current)` in one write transaction. */
  update(
    key: string,
    change: (current: ThrottleRecord | undefined) => ThrottleRecord,
  ): Promise<ThrottleRecord> {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const next = change(this.#read(key));
      this.#put.run(key, next.failures, next.lastFailureAt, next.lockedUntil);
      this.#db.exec("COMMIT");
      this.#pruneNow();
      return Promise.resolve(next);
    } catch (error) {
      this.#db.exec("ROLLBACK");
      return Promise.reject(error);
    }
  }

  /** Forgets the record of `key`. */
  delete(key: string): Promise<void> {
    this.#delete.run(key);
    return Promise.resolve();
  }

  /** Records kept now. */
  get size(): number {
    return (this.#db.prepare("SELECT count(*) AS n FROM throttle").get() as { n: number }).n;
  }

  /** Closes the file. */
  close(): void {
    this.#db.close();
  }

  #read(key: string): ThrottleRecord | undefined {
    const row = this.#get.get(key) as
      | { failures: number; last_failure_at: number; locked_until: number }
      | undefined;
    if (!row) return undefined;
    return {
      failures: row.failures,
      lastFailureAt: row.last_failure_at,
      lockedUntil: row.locked_until,
    };
  }

  /** Deletes forgettable records, and the oldest past the cap, at most once a minute. */
  #pruneNow(): void {
    const now = this.#now();
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    this.#db.prepare(
      "DELETE FROM throttle WHERE locked_until <= ? AND last_failure_at < ?",
    ).run(now, now - this.#policy.forgetMs);
    const cap = this.#policy.maxEntries * 2;
    this.#db.prepare(
      "DELETE FROM throttle WHERE key IN (SELECT key FROM throttle ORDER BY last_failure_at " +
        "DESC LIMIT -1 OFFSET ?)",
    ).run(cap);
  }
}
