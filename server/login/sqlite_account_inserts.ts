/**
 * The account inserts of one group-commit batch of the SQLite accounts store, as one multi-row
 * `INSERT OR IGNORE … RETURNING` per chunk: a row not returned lost its username to an account
 * already stored or to an earlier one of the batch, and only that insert fails
 * (`UsernameTakenError`), with no savepoint per write. A {@linkcode BulkWrite} of group_commit.ts.
 *
 * @example
 * ```ts ignore
 * const inserts = new SqliteAccountInserts(db);
 * const id = await writer.writeBulk(inserts, { username: "alice01", passwordHash, now });
 * ```
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { type NewAccount, UsernameTakenError } from "./account_store.ts";
import type { BulkOutcome } from "./commit_batches.ts";
import type { BulkWrite } from "./group_commit.ts";
import { returnArrays } from "./sqlite_rows.ts";

/** Rows per multi-row INSERT, largest first; a batch is cut into these (each prepared once). */
const INSERT_CHUNKS = [256, 32, 4, 1] as const;

/**
 * Gives each returned row of a chunk to the first item of its username (for rows that did not come
 * back in insertion order).
 */
function matchByName(
  items: NewAccount[],
  chunk: { at: number; size: number; rows: [number, string][]; outcomes: BulkOutcome<number>[] },
): void {
  const byName = new Map<string, number>();
  for (let k = chunk.size - 1; k >= 0; k--) byName.set(items[chunk.at + k].username, chunk.at + k);
  for (const [id, username] of chunk.rows) {
    chunk.outcomes[byName.get(username)!] = { ok: true, value: id };
  }
}

/** Inserts a batch's new accounts; each resolves with its id or fails alone. */
export class SqliteAccountInserts implements BulkWrite<NewAccount, number> {
  #db: DatabaseSync;
  #insertStatements = new Map<number, StatementSync>();

  /** Inserts into `db`'s `accounts`; its statements are prepared when first used. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * A batch's account inserts, checked for conflicts inside the statements: multi-row
   * `INSERT OR IGNORE … RETURNING`, in which a row whose username is taken (case ignored) by a
   * stored account or by an earlier row of the batch is skipped and returns nothing; the insert of
   * an item without a returned row fails with `UsernameTakenError`, the others resolve with their
   * ids. Rows come back in the order they were inserted (what SQLite does; when not, a map of the
   * chunk's usernames finds each row's item instead).
   */
  run(items: NewAccount[]): BulkOutcome<number>[] {
    const outcomes: BulkOutcome<number>[] = new Array(items.length);
    let at = 0;
    for (const size of INSERT_CHUNKS) {
      while (items.length - at >= size) {
        const args: (string | number)[] = new Array(size * 4);
        for (let k = 0; k < size; k++) {
          const item = items[at + k];
          args[4 * k] = item.username;
          args[4 * k + 1] = item.passwordHash;
          args[4 * k + 2] = item.now;
          args[4 * k + 3] = item.now;
        }
        const rows = this.#insertStatement(size).all(...args) as unknown as [number, string][];
        let k = 0;
        for (let r = 0; r < rows.length; r++) {
          const [id, username] = rows[r];
          while (k < size && items[at + k].username !== username) k++;
          if (k === size) {
            matchByName(items, { at, size, rows, outcomes });
            break;
          }
          outcomes[at + k] = { ok: true, value: id };
          k++;
        }
        for (let k = 0; k < size; k++) {
          outcomes[at + k] ??= { ok: false, error: new UsernameTakenError(items[at + k].username) };
        }
        at += size;
      }
    }
    return outcomes;
  }

  /** The prepared multi-row insert of `rows` rows (one of {@linkcode INSERT_CHUNKS}). */
  #insertStatement(rows: number): StatementSync {
    let statement = this.#insertStatements.get(rows);
    if (!statement) {
      statement = this.#db.prepare(
        `INSERT OR IGNORE INTO accounts (username, password_hash, created_at, password_changed_at)
         VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?)").join(", ")}
         RETURNING id, username`,
      );
      returnArrays(statement);
      this.#insertStatements.set(rows, statement);
    }
    return statement;
  }
}
