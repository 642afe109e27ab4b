/**
 * Rows of the SQLite accounts store as arrays: node:sqlite's `setReturnArrays`, which hands back
 * each row as its columns in order (no keyed object per row), and the account row read that way.
 *
 * @example
 * ```ts ignore
 * const byName = db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE username = ?`);
 * returnArrays(byName);
 * toAccount(byName.get("alice01") as AccountRow | undefined); // an Account, or undefined
 * ```
 * @module
 */

import type { StatementSync } from "node:sqlite";
import type { Account } from "./account_store.ts";

/** The columns of an account, in the order of {@linkcode AccountRow}. */
export const ACCOUNT_COLUMNS = "id, username, password_hash, created_at, password_changed_at";

/** An account row as node:sqlite returns it with `setReturnArrays(true)`: the columns in order. */
export type AccountRow = [
  id: number,
  username: string,
  passwordHash: string,
  createdAt: number,
  passwordChangedAt: number,
];

/** The account of a row, or `undefined` when there is none. */
export function toAccount(row: AccountRow | undefined): Account | undefined {
  if (!row) return undefined;
  return {
    id: row[0],
    username: row[1],
    passwordHash: row[2],
    createdAt: row[3],
    passwordChangedAt: row[4],
  };
}

/**
 * Makes a statement return each row as an array of its columns (node:sqlite's
 * `setReturnArrays`, which Deno's type declarations lack): no keyed object per row.
 */
export function returnArrays(statement: StatementSync): void {
  (statement as StatementSync & { setReturnArrays(enabled: boolean): void }).setReturnArrays(true);
}
