/**
 * Opens the login service's accounts store from its `--db` flag: without one, SQLite in
 * `<data-dir>/login.sqlite` (the embedded default); with `postgres://user:pass@host:port/db`,
 * PostgreSQL.
 *
 * @example
 * ```ts ignore
 * const store = await openAccountStore({ dataDir: "./data" }); // SQLite
 * const shared = await openAccountStore({ dataDir: "./data", db: "postgres://u:p@db:5432/gatehouse" });
 * ```
 * @module
 */

import type { AccountStore, StoreWriteOptions } from "./account_store.ts";
import { checkPostgresUrl, PostgresAccountStore } from "./postgres_account_store.ts";
import { SqliteAccountStore } from "./sqlite_account_store.ts";

/** Options of {@linkcode openAccountStore}. */
export interface OpenAccountStoreOptions extends StoreWriteOptions {
  /** The `--db` flag: a postgres:// URL, or undefined for SQLite in the data dir. */
  db?: string;
  /** The data dir, where `login.sqlite` is. */
  dataDir: string;
}

/** The SQLite file of a data dir. */
export function sqlitePathOf(dataDir: string): string {
  return `${dataDir.replace(/\/$/, "")}/login.sqlite`;
}

/** Checks a `--db` value; throws a sentence naming the flag when it is not a postgres:// URL. */
export function checkDbFlag(db: string): void {
  try {
    checkPostgresUrl(db);
  } catch (error) {
    const why = (error as Error).message;
    throw new TypeError(
      `Flag --db must be postgres://user:pass@host:port/db (${
        why[0].toLowerCase() + why.slice(1)
      }); without it the accounts are in <data-dir>/login.sqlite`,
    );
  }
}

/** Opens the store the flags name, migrating its schema under a lock. */
export function openAccountStore(options: OpenAccountStoreOptions): Promise<AccountStore> {
  const write = { maxBatch: options.maxBatch, onCommit: options.onCommit };
  if (options.db !== undefined) {
    checkDbFlag(options.db);
    return PostgresAccountStore.open({ url: options.db, ...write });
  }
  return SqliteAccountStore.open({ path: sqlitePathOf(options.dataDir), ...write });
}
