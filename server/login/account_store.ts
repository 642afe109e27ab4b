/**
 * The accounts store's interface: what the login service asks of the database that keeps
 * accounts and tokens, whatever engine holds them. Every method returns a promise. Two
 * implementations pass the same conformance tests (tests/login/store_conformance.ts):
 *
 * - {@linkcode SqliteAccountStore} (sqlite_account_store.ts): `<data-dir>/login.sqlite`, the
 *   embedded default; several login instances on one machine may share the file.
 * - {@linkcode PostgresAccountStore} (postgres_account_store.ts): `--db postgres://…`, for login
 *   instances on many machines.
 *
 * What both promise: ids are never reused (a deleted account's id is never given to another);
 * usernames are unique without regard to case and kept as registered; tokens are stored as their
 * SHA-256 only; a write resolves only once committed, and writes of one moment share a
 * transaction (group commit) where one bad write fails alone; the schema is migrated under a lock,
 * so that instances starting together on a fresh store do not race.
 *
 * @example
 * ```ts ignore
 * const store: AccountStore = await openAccountStore({ db: "postgres://u:p@host/db", dataDir });
 * const id = await store.createAccount({ username: "alice01", passwordHash, now: Date.now() });
 * (await store.accountByName("ALICE01"))?.id === id; // true
 * await store.close();
 * ```
 * @module
 */

import type { CommitReport, GroupCommitStats } from "./commit_batches.ts";

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

/** An account to create. */
export interface NewAccount {
  username: string;
  passwordHash: string;
  now: number;
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

/** Options every store takes when opened. */
export interface StoreWriteOptions {
  /** Most writes in one transaction. */
  maxBatch?: number;
  /** Told of each committed transaction (for `/metrics`). */
  onCommit?: (commit: CommitReport) => void;
}

/** Accounts and tokens, in some database. Every method returns a promise. */
export interface AccountStore {
  /** The engine: `"sqlite"` or `"postgres"`. */
  readonly kind: "sqlite" | "postgres";
  /** Where the data is, for logs: a file path, or `postgres://user@host:port/db` (no password). */
  readonly location: string;
  /** Whether opening created the store (a new file, or a schema made from nothing). */
  readonly created: boolean;
  /** The group-commit counters. */
  readonly writerStats: GroupCommitStats;
  /** The schema version in the database. */
  schemaVersion(): Promise<number>;
  /** How many accounts there are. */
  countAccounts(): Promise<number>;
  /** The account of a username, case ignored. */
  accountByName(username: string): Promise<Account | undefined>;
  /** The account of an id. */
  accountById(id: number): Promise<Account | undefined>;
  /** The owner of an unexpired token, by the token's SHA-256. */
  tokenOwner(options: { tokenHash: Uint8Array; now: number }): Promise<TokenOwner | undefined>;
  /** Creates an account; resolves with its id once committed. Rejects `UsernameTakenError`. */
  createAccount(account: NewAccount): Promise<number>;
  /**
   * Stores a new token for an account after a password login: the account's earlier tokens are
   * revoked in the same transaction (one session per account), and when `rehash` is given the
   * password hash is replaced, unless it changed meanwhile. Rejects `AccountGoneError`.
   */
  issueLoginToken(
    options: NewToken & { userId: number; now: number; rehash?: { from: string; to: string } },
  ): Promise<void>;
  /**
   * Sets a new password hash, revokes every token of the account, and stores the token of the
   * session that made the change. Rejects `AccountGoneError`.
   */
  changePassword(
    options: NewToken & { userId: number; passwordHash: string; now: number },
  ): Promise<void>;
  /** Revokes every token of an account; resolves with how many there were. */
  revokeTokens(userId: number): Promise<number>;
  /** Deletes an account and its tokens; resolves with whether it existed. */
  deleteAccount(userId: number): Promise<boolean>;
  /** Deletes tokens expired at `now`; resolves with how many. */
  pruneTokens(now: number): Promise<number>;
  /** Commits what is queued, then closes the connection(s). */
  close(): Promise<void>;
}

/**
 * The username's key for "unique regardless of case", as both stores fold it: ASCII letters
 * lowered (SQLite's `NOCASE`; usernames are ASCII letters and digits).
 */
export function usernameKey(username: string): string {
  return username.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Error codes of a database reached over the network that say it cannot be reached now. */
const UNREACHABLE_CODES = new Set([
  // The socket (node:net, as postgres.js sees it).
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  // postgres.js's own.
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  // PostgreSQL's SQLSTATE: shutting down, starting up, or a connection exception (class 08).
  "57P01",
  "57P02",
  "57P03",
]);

/**
 * Whether a store's error says the database cannot be reached (PostgreSQL down, restarting, or
 * out of the network), rather than that the request itself failed: the login service then
 * answers "try again" and goes on. An embedded SQLite store never raises one.
 */
export function isStoreUnreachable(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (UNREACHABLE_CODES.has(code) || code.startsWith("08"))) {
      return true;
    }
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.ConnectionReset) {
      return true;
    }
    e = e.cause;
  }
  return false;
}
