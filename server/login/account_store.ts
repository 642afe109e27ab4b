/**
 * The login service's SQLite database (`<data-dir>/login.sqlite`, through Deno's built-in
 * `node:sqlite`): the schema and its migrations, and every statement, prepared once with bound
 * parameters. Reads run at once; writes go through {@linkcode GroupCommit} and resolve only once
 * committed with `synchronous=FULL` in WAL mode.
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
 * version; opening a database runs the steps it lacks, each in its own transaction, and refuses a
 * database newer than this program. DDL and PRAGMAs are constants of this file; every statement
 * that carries data is prepared with bound parameters.
 *
 * @example
 * ```ts
 * const store = await AccountStore.open({ path: "./data/login.sqlite" });
 * const id = await store.createAccount({ username: "alice01", passwordHash, now: Date.now() });
 * store.accountByName("ALICE01")?.id === id; // true
 * await store.close();
 * ```
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { type CommitReport, GroupCommit, type GroupCommitStats } from "./group_commit.ts";

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

/** An account as stored. */
export interface Account {
  id: number;
  /** As registered (lookups ignore case). */
  username: string;
  /** PHC string: algorithm, parameters, salt, hash. */
  passwordHash: string;
  createdAt: number;
  passwordChangedAt: number;
}

/** The account a token belongs to. */
export interface TokenOwner {
  userId: number;
  username: string;
  expiresAt: number;
  /** The stored SHA-256 of the token, for a constant-time check by the caller. */
  tokenHash: Uint8Array;
}

/** A token to store: its hash and when it expires. */
export interface NewToken {
  tokenHash: Uint8Array;
  expiresAt: number;
}

/** The username is taken (case ignored). */
export class UsernameTakenError extends Error {
  constructor(username: string) {
    super(`Username ${username} is taken`);
    this.name = "UsernameTakenError";
  }
}

/** The account was deleted while the request was under way. */
export class AccountGoneError extends Error {
  constructor(userId: number) {
    super(`Account ${userId} no longer exists`);
    this.name = "AccountGoneError";
  }
}

/** Options of {@linkcode AccountStore.open}. */
export interface AccountStoreOptions {
  /** The database file; created with mode 0600 (with its folder) when missing. */
  path: string;
  /** Most writes in one transaction. */
  maxBatch?: number;
  /** Told of each committed transaction (for `/metrics`). */
  onCommit?: (commit: CommitReport) => void;
}

/** An account row as node:sqlite returns it with `setReturnArrays(true)`: the columns in order. */
type AccountRow = [
  id: number,
  username: string,
  passwordHash: string,
  createdAt: number,
  passwordChangedAt: number,
];

/** SQLite's extended code for a UNIQUE violation. */
const SQLITE_CONSTRAINT_UNIQUE = 2067;

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
async function createPrivateFile(path: string): Promise<boolean> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  try {
    await Deno.writeFile(path, new Uint8Array(), { mode: 0o600, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
  return true;
}

function migrate(db: DatabaseSync, path: string): void {
  const { user_version: version } = db.prepare("PRAGMA user_version").get() as {
    user_version: number;
  };
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `The database ${path} has schema version ${version}, newer than this program's ${SCHEMA_VERSION}`,
    );
  }
  for (let step = version; step < SCHEMA_VERSION; step++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[step]);
      db.exec(`PRAGMA user_version = ${step + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

/** Accounts and tokens in SQLite. */
export class AccountStore {
  #db: DatabaseSync;
  #writer: GroupCommit;
  #path: string;
  #created: boolean;
  #statements: Record<
    | "accountByName"
    | "accountById"
    | "countAccounts"
    | "tokenOwner"
    | "insertAccount"
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
    options: {
      path: string;
      created: boolean;
      maxBatch?: number;
      onCommit?: (commit: CommitReport) => void;
    },
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
      insertAccount: db.prepare(
        `INSERT INTO accounts (username, password_hash, created_at, password_changed_at)
         VALUES (?, ?, ?, ?)`,
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
  }

  /**
   * Opens (creating when missing) the database: WAL, `synchronous=FULL`, foreign keys on, and the
   * schema migrated to {@linkcode SCHEMA_VERSION}. Throws when the database is newer than that.
   */
  static async open(options: AccountStoreOptions): Promise<AccountStore> {
    const created = await createPrivateFile(options.path);
    const db = new DatabaseSync(options.path);
    try {
      const { journal_mode: mode } = db.prepare("PRAGMA journal_mode = WAL").get() as {
        journal_mode: string;
      };
      if (mode.toLowerCase() !== "wal") {
        throw new Error(`The database ${options.path} could not be put in WAL mode (${mode})`);
      }
      db.exec("PRAGMA synchronous = FULL");
      db.exec("PRAGMA foreign_keys = ON");
      db.exec("PRAGMA busy_timeout = 5000");
      migrate(db, options.path);
    } catch (error) {
      db.close();
      throw error;
    }
    return new AccountStore(db, {
      path: options.path,
      created,
      maxBatch: options.maxBatch,
      onCommit: options.onCommit,
    });
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  /** Whether {@linkcode open} created the file. */
  get created(): boolean {
    return this.#created;
  }

  /** The schema version on disk. */
  get schemaVersion(): number {
    return (this.#db.prepare("PRAGMA user_version").get() as { user_version: number })
      .user_version;
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
  countAccounts(): number {
    return (this.#statements.countAccounts.get() as { n: number }).n;
  }

  /** The account of a username, case ignored. */
  accountByName(username: string): Account | undefined {
    return toAccount(this.#statements.accountByName.get(username) as AccountRow | undefined);
  }

  /** The account of an id. */
  accountById(id: number): Account | undefined {
    return toAccount(this.#statements.accountById.get(id) as AccountRow | undefined);
  }

  /** The owner of an unexpired token, by the token's SHA-256. */
  tokenOwner(options: { tokenHash: Uint8Array; now: number }): TokenOwner | undefined {
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
  }

  /** Creates an account; resolves with its id once committed. Rejects `UsernameTakenError`. */
  createAccount(
    account: { username: string; passwordHash: string; now: number },
  ): Promise<number> {
    return this.#writer.write(() => {
      try {
        const result = this.#statements.insertAccount.run(
          account.username,
          account.passwordHash,
          account.now,
          account.now,
        );
        return Number(result.lastInsertRowid);
      } catch (error) {
        if ((error as { errcode?: number }).errcode === SQLITE_CONSTRAINT_UNIQUE) {
          throw new UsernameTakenError(account.username);
        }
        throw error;
      }
    }, ONE_STATEMENT);
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
