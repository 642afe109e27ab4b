/**
 * The accounts store in SQLite (`<data-dir>/login.sqlite`, through Deno's built-in
 * `node:sqlite`): the schema and its migrations, and every statement, prepared once with bound
 * parameters. Reads run at once; writes go through {@linkcode GroupCommit} and resolve only once
 * committed with `synchronous=FULL` in WAL mode. Implements {@linkcode AccountStore}.
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
 * Account inserts that share a batch run as one multi-row `INSERT OR IGNORE … RETURNING`: a row
 * not returned lost its username to an account already stored or to an earlier one of the batch,
 * and only that insert fails (`UsernameTakenError`), with no savepoint per write.
 *
 * @example
 * ```ts
 * const store = await SqliteAccountStore.open({ path: "./data/login.sqlite" });
 * const id = await store.createAccount({ username: "alice01", passwordHash: "$scrypt$…", now: Date.now() });
 * (await store.accountByName("ALICE01"))?.id === id; // true
 * await store.close();
 * ```
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type Account,
  AccountGoneError,
  type AccountStore,
  type NewAccount,
  type NewToken,
  type StoreWriteOptions,
  type TokenOwner,
  UsernameTakenError,
} from "./account_store.ts";
import {
  type BulkOutcome,
  type BulkWrite,
  GroupCommit,
  type GroupCommitStats,
} from "./group_commit.ts";

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

/** Options of {@linkcode SqliteAccountStore.open}. */
export interface SqliteAccountStoreOptions extends StoreWriteOptions {
  /** The database file; created with mode 0600 (with its folder) when missing. */
  path: string;
  /** How long to wait for another connection's write lock, ms (default 5000). */
  busyTimeoutMs?: number;
}

/** Rows per multi-row INSERT, largest first; a batch is cut into these (each prepared once). */
const INSERT_CHUNKS = [256, 32, 4, 1] as const;

/** An account row as node:sqlite returns it with `setReturnArrays(true)`: the columns in order. */
type AccountRow = [
  id: number,
  username: string,
  passwordHash: string,
  createdAt: number,
  passwordChangedAt: number,
];

/**
 * For the writes that are one statement: no savepoint, since SQLite undoes a failed statement
 * alone (a taken username fails only its own write; see group_commit.ts).
 */
const ONE_STATEMENT = { oneStatement: true } as const;

function toAccount(row: AccountRow | undefined): Account | undefined {
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
function returnArrays(statement: StatementSync): void {
  (statement as StatementSync & { setReturnArrays(enabled: boolean): void }).setReturnArrays(true);
}

/** Creates the file with mode 0600 when missing, so the WAL and SHM files inherit that mode. */
async function createPrivateFile(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  try {
    await Deno.writeFile(path, new Uint8Array(), { mode: 0o600, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    throw error;
  }
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
}

/** A synchronous read as a promise: its value, or its error as a rejection. */
function promised<T>(read: () => T): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (error) {
    return Promise.reject(error);
  }
}

function userVersion(db: DatabaseSync): number {
  return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/**
 * Brings the schema to {@linkcode SCHEMA_VERSION} under the write lock: `BEGIN IMMEDIATE` waits
 * (busy_timeout) for any other instance migrating the same file, and the version is read again
 * inside the lock, so the steps run once. Resolves with whether it created the schema.
 */
function migrate(db: DatabaseSync, path: string): boolean {
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

/** An account insert waiting in a batch. */
type InsertItem = NewAccount;

/** Accounts and tokens in SQLite. */
export class SqliteAccountStore implements AccountStore {
  /** The engine. */
  readonly kind = "sqlite" as const;
  #db: DatabaseSync;
  #writer: GroupCommit;
  #path: string;
  #created: boolean;
  #inserts: BulkWrite<InsertItem, number>;
  #insertStatements = new Map<number, StatementSync>();
  #statements: Record<
    | "accountByName"
    | "accountById"
    | "countAccounts"
    | "tokenOwner"
    | "accountExists"
    | "insertToken"
    | "deleteTokensOf"
    | "setPassword"
    | "rehash"
    | "deleteAccount"
    | "pruneTokens",
    StatementSync
  >;

  private constructor(
    db: DatabaseSync,
    options: SqliteAccountStoreOptions & { created: boolean },
  ) {
    this.#db = db;
    this.#path = options.path;
    this.#created = options.created;
    this.#writer = new GroupCommit({
      db,
      maxBatch: options.maxBatch,
      onCommit: options.onCommit,
    });
    // The column order of AccountRow; both statements hand back arrays, not keyed objects.
    const accountColumns = "id, username, password_hash, created_at, password_changed_at";
    this.#statements = {
      accountByName: db.prepare(`SELECT ${accountColumns} FROM accounts WHERE username = ?`),
      accountById: db.prepare(`SELECT ${accountColumns} FROM accounts WHERE id = ?`),
      countAccounts: db.prepare("SELECT count(*) AS n FROM accounts"),
      tokenOwner: db.prepare(
        `SELECT t.user_id, a.username, t.expires_at, t.token_hash
           FROM tokens t JOIN accounts a ON a.id = t.user_id
          WHERE t.token_hash = ? AND t.expires_at > ?`,
      ),
      accountExists: db.prepare("SELECT 1 AS one FROM accounts WHERE id = ?"),
      insertToken: db.prepare(
        "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
      ),
      deleteTokensOf: db.prepare("DELETE FROM tokens WHERE user_id = ?"),
      setPassword: db.prepare(
        "UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE id = ?",
      ),
      rehash: db.prepare(
        "UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?",
      ),
      deleteAccount: db.prepare("DELETE FROM accounts WHERE id = ?"),
      pruneTokens: db.prepare("DELETE FROM tokens WHERE expires_at <= ?"),
    };
    returnArrays(this.#statements.accountByName);
    returnArrays(this.#statements.accountById);
    this.#inserts = { run: (items) => this.#insertMany(items) };
  }

  /**
   * Opens (creating when missing) the database: WAL, `synchronous=FULL`, foreign keys on, and the
   * schema migrated to {@linkcode SCHEMA_VERSION} under the write lock. Throws when the database
   * is newer than that.
   */
  static async open(options: SqliteAccountStoreOptions): Promise<SqliteAccountStore> {
    await createPrivateFile(options.path);
    let created: boolean;
    const db = new DatabaseSync(options.path);
    try {
      // First: every later statement (the switch to WAL, the migration) then waits for another
      // instance's lock on the same file instead of failing with "database is locked".
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      const { journal_mode: mode } = db.prepare("PRAGMA journal_mode = WAL").get() as {
        journal_mode: string;
      };
      if (mode.toLowerCase() !== "wal") {
        throw new Error(`The database ${options.path} could not be put in WAL mode (${mode})`);
      }
      db.exec("PRAGMA synchronous = FULL");
      db.exec("PRAGMA foreign_keys = ON");
      // An instance that made the file but lost the migration to another is not its creator.
      created = migrate(db, options.path);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteAccountStore(db, { ...options, created });
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  /** The database file, for logs. */
  get location(): string {
    return this.#path;
  }

  /** Whether {@linkcode open} created the schema. */
  get created(): boolean {
    return this.#created;
  }

  /** The schema version on disk. */
  schemaVersion(): Promise<number> {
    return promised(() => userVersion(this.#db));
  }

  /** The connection's durability settings, as SQLite reports them. */
  get settings(): { journalMode: string; synchronous: number; foreignKeys: boolean } {
    const read = (pragma: string) =>
      Object.values(this.#db.prepare(`PRAGMA ${pragma}`).get() as Record<string, unknown>)[0];
    return {
      journalMode: String(read("journal_mode")),
      synchronous: Number(read("synchronous")),
      foreignKeys: Number(read("foreign_keys")) === 1,
    };
  }

  /** The group-commit counters. */
  get writerStats(): GroupCommitStats {
    return this.#writer.stats;
  }

  /** How many accounts there are. */
  countAccounts(): Promise<number> {
    return promised(() => (this.#statements.countAccounts.get() as { n: number }).n);
  }

  /** The account of a username, case ignored. */
  accountByName(username: string): Promise<Account | undefined> {
    return promised(() =>
      toAccount(this.#statements.accountByName.get(username) as AccountRow | undefined)
    );
  }

  /** The account of an id. */
  accountById(id: number): Promise<Account | undefined> {
    return promised(() =>
      toAccount(this.#statements.accountById.get(id) as AccountRow | undefined)
    );
  }

  /** The owner of an unexpired token, by the token's SHA-256. */
  tokenOwner(options: { tokenHash: Uint8Array; now: number }): Promise<TokenOwner | undefined> {
    return promised(() => {
      const row = this.#statements.tokenOwner.get(options.tokenHash, options.now) as
        | { user_id: number; username: string; expires_at: number; token_hash: Uint8Array }
        | undefined;
      if (!row) return undefined;
      return {
        userId: row.user_id,
        username: row.username,
        expiresAt: row.expires_at,
        tokenHash: row.token_hash,
      };
    });
  }

  /** Creates an account; resolves with its id once committed. Rejects `UsernameTakenError`. */
  createAccount(account: NewAccount): Promise<number> {
    return this.#writer.writeBulk(this.#inserts, account);
  }

  /**
   * Stores a new token for an account after a password login: the account's earlier tokens are
   * revoked in the same transaction (one session per account), and when `rehash` is given the
   * password hash is replaced, unless it changed meanwhile. Rejects `AccountGoneError`.
   */
  issueLoginToken(
    options: NewToken & {
      userId: number;
      now: number;
      rehash?: { from: string; to: string };
    },
  ): Promise<void> {
    return this.#writer.write(() => {
      this.#requireAccount(options.userId);
      if (options.rehash) {
        this.#statements.rehash.run(options.rehash.to, options.userId, options.rehash.from);
      }
      this.#statements.deleteTokensOf.run(options.userId);
      this.#statements.insertToken.run(
        options.tokenHash,
        options.userId,
        options.now,
        options.expiresAt,
      );
    });
  }

  /**
   * Sets a new password hash, revokes every token of the account, and stores the token of the
   * session that made the change. Rejects `AccountGoneError`.
   */
  changePassword(
    options: NewToken & { userId: number; passwordHash: string; now: number },
  ): Promise<void> {
    return this.#writer.write(() => {
      this.#requireAccount(options.userId);
      this.#statements.setPassword.run(options.passwordHash, options.now, options.userId);
      this.#statements.deleteTokensOf.run(options.userId);
      this.#statements.insertToken.run(
        options.tokenHash,
        options.userId,
        options.now,
        options.expiresAt,
      );
    });
  }

  /** Revokes every token of an account; resolves with how many there were. */
  revokeTokens(userId: number): Promise<number> {
    return this.#writer.write(
      () => Number(this.#statements.deleteTokensOf.run(userId).changes),
      ONE_STATEMENT,
    );
  }

  /** Deletes an account and its tokens; resolves with whether it existed. */
  deleteAccount(userId: number): Promise<boolean> {
    // One statement: the tokens go by ON DELETE CASCADE, inside the DELETE's own atomicity.
    return this.#writer.write(
      () => Number(this.#statements.deleteAccount.run(userId).changes) > 0,
      ONE_STATEMENT,
    );
  }

  /** Deletes tokens expired at `now`; resolves with how many. */
  pruneTokens(now: number): Promise<number> {
    return this.#writer.write(
      () => Number(this.#statements.pruneTokens.run(now).changes),
      ONE_STATEMENT,
    );
  }

  /** Commits what is queued, then closes the database. */
  async close(): Promise<void> {
    await this.#writer.close();
    if (this.#db.isOpen) this.#db.close();
  }

  #requireAccount(userId: number): void {
    if (!this.#statements.accountExists.get(userId)) throw new AccountGoneError(userId);
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

  /**
   * A batch's account inserts, checked for conflicts inside the statements: multi-row
   * `INSERT OR IGNORE … RETURNING`, in which a row whose username is taken (case ignored) by a
   * stored account or by an earlier row of the batch is skipped and returns nothing; the insert of
   * an item without a returned row fails with `UsernameTakenError`, the others resolve with their
   * ids. Rows come back in the order they were inserted (what SQLite does; when not, a map of the
   * chunk's usernames finds each row's item instead).
   */
  #insertMany(items: InsertItem[]): BulkOutcome<number>[] {
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
}
