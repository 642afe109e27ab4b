/**
 * The accounts store's SQLite schema and its migrations (sqlite_account_store.ts).
 *
 * Schema (version 1):
 * - `accounts(id, username, password_hash, created_at, password_changed_at)`: `id` is
 *   AUTOINCREMENT, so the id of a deleted account is never given to another one; `username` is
 *   unique without regard to case (`COLLATE NOCASE`: `Alice01` and `alice01` are one account) and
 *   kept as registered; `password_hash` is a PHC string that carries its own parameters.
 * - `tokens(token_hash, user_id, created_at, expires_at)`: SHA-256 of each token, never the
 *   token; deleted with their account (`ON DELETE CASCADE`).
 *
 * The schema version is SQLite's `user_version`. {@linkcode MIGRATIONS} holds one step per
 * version. Opening a database takes the write lock (`BEGIN IMMEDIATE`, waiting up to
 * `busy_timeout` for it), reads `user_version` again inside it, and runs the steps it lacks in
 * that one transaction: instances that open one fresh file at once wait for each other, and only
 * the first migrates. A database newer than this program is refused.
 *
 * @example
 * ```ts ignore
 * const created = migrateSchema(db, path); // true when this call made the tables
 * userVersion(db) === SCHEMA_VERSION; // true
 * ```
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/** The schema steps; step `i` takes `user_version` from `i` to `i + 1`. Append, never edit. */
export const MIGRATIONS: readonly string[] = [
  // 1: the first release.
  `CREATE TABLE accounts (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     username TEXT NOT NULL UNIQUE COLLATE NOCASE,
     password_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     password_changed_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE tokens (
     token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
     user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX tokens_by_user ON tokens (user_id);
   CREATE INDEX tokens_by_expiry ON tokens (expires_at);`,
];

/** The schema version this program writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** The schema version of a database: its `user_version` (0 for a new file). */
export function userVersion(db: DatabaseSync): number {
  return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/**
 * Brings the schema to {@linkcode SCHEMA_VERSION} under the write lock: `BEGIN IMMEDIATE` waits
 * (busy_timeout) for any other instance migrating the same file, and the version is read again
 * inside the lock, so the steps run once. Returns whether it created the schema; throws when the
 * database at `path` is newer than this program.
 */
export function migrateSchema(db: DatabaseSync, path: string): boolean {
  const newer = (version: number) =>
    new Error(
      `The database ${path} has schema version ${version}, newer than this program's ${SCHEMA_VERSION}`,
    );
  const seen = userVersion(db);
  if (seen > SCHEMA_VERSION) throw newer(seen);
  if (seen === SCHEMA_VERSION) return false;
  db.exec("BEGIN IMMEDIATE");
  try {
    const version = userVersion(db);
    if (version > SCHEMA_VERSION) throw newer(version);
    for (let step = version; step < SCHEMA_VERSION; step++) db.exec(MIGRATIONS[step]);
    if (version < SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
    return version === 0;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
