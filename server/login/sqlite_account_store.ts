/**
 * The accounts store in SQLite (`<data-dir>/login.sqlite`, through Deno's built-in
 * `node:sqlite`): the schema and its migrations, and every statement, prepared once with bound
 * parameters. Reads run at once; writes go through {@linkcode GroupCommit} and resolve only once
 * committed with `synchronous=FULL` in WAL mode. Implements {@linkcode AccountStore}.
 *
 * The schema and its migrations are in sqlite_schema.ts: opening a database migrates it under the
 * write lock, and a database newer than this program is refused. Account inserts that share a
 * batch run as one multi-row `INSERT OR IGNORE … RETURNING` (sqlite_account_inserts.ts).
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
} from "./account_store.ts";
import type { GroupCommitStats } from "./commit_batches.ts";
import { GroupCommit } from "./group_commit.ts";
import { SqliteAccountInserts } from "./sqlite_account_inserts.ts";
import { ACCOUNT_COLUMNS, type AccountRow, returnArrays, toAccount } from "./sqlite_rows.ts";
import { migrateSchema, userVersion } from "./sqlite_schema.ts";
import { openWhileLocked } from "./sqlite_open.ts";

// The schema is part of the store's face: tools and benches import it from here.
export { MIGRATIONS, SCHEMA_VERSION } from "./sqlite_schema.ts";

/** Options of {@linkcode SqliteAccountStore.open}. */
export interface SqliteAccountStoreOptions extends StoreWriteOptions {
  /** The database file; created with mode 0600 (with its folder) when missing. */
  path: string;
  /** How long to wait for another connection's write lock, ms (default 5000). */
  busyTimeoutMs?: number;
}

/**
 * For the writes that are one statement: no savepoint, since SQLite undoes a failed statement
 * alone (a taken username fails only its own write; see group_commit.ts).
 */
const ONE_STATEMENT = { oneStatement: true } as const;

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

/** Accounts and tokens in SQLite. */
export class SqliteAccountStore implements AccountStore {
  /** The engine. */
  readonly kind = "sqlite" as const;
  #db: DatabaseSync;
  #writer: GroupCommit;
  #path: string;
  #created: boolean;
  #inserts: SqliteAccountInserts;
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
    this.#statements = {
      accountByName: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE username = ?`),
      accountById: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`),
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
    this.#inserts = new SqliteAccountInserts(db);
  }

  /**
   * Opens (creating when missing) the database: WAL, `synchronous=FULL`, foreign keys on, and the
   * schema migrated to {@linkcode SCHEMA_VERSION} under the write lock (tried again for up to 5 s
   * while another instance holds the file where SQLite does not wait). Throws when the database
   * is newer than that.
   */
  static async open(options: SqliteAccountStoreOptions): Promise<SqliteAccountStore> {
    await createPrivateFile(options.path);
    // Another instance starting on the same file may hold it in a step where SQLite answers
    // "database is locked" at once: tried again for a while (sqlite_open.ts).
    return await openWhileLocked(() => SqliteAccountStore.#openOnce(options));
  }

  static #openOnce(options: SqliteAccountStoreOptions): SqliteAccountStore {
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
      created = migrateSchema(db, options.path);
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
}
