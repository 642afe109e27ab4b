/**
 * The login token kept in `sessionStorage`, so that a reload logs in again by token instead of
 * asking for the password, and the group service gives the page its groups back (the reconnect
 * grace period).
 *
 * Why `sessionStorage` and not `localStorage`: both survive a reload, which is all the page needs,
 * but `sessionStorage` belongs to one tab and is gone when the tab closes, so the token lives no
 * longer in the browser than the page that uses it, and a closed tab leaves none behind on a
 * shared computer. A second tab does not share it either: it would otherwise log in with the same
 * token and, one session per account, log the first tab out. A script injected into the page can
 * read either; the token's own expiry and logout's revocation are the defence there. A token an
 * earlier version left in `localStorage` is removed.
 *
 * Storage can be disabled or full: then the page works as before, only without staying logged in.
 *
 * @module
 */

/** Where the token is kept. */
export const TOKEN_KEY = "gatehouse.token";

/** Reads, writes and removes the stored token. */
export class TokenStore {
  #storage: Storage | undefined;

  constructor(storage?: Storage) {
    try {
      this.#storage = storage ?? globalThis.sessionStorage;
    } catch {
      this.#storage = undefined; // storage blocked by the browser's settings
    }
    if (storage) return;
    try {
      globalThis.localStorage?.removeItem(TOKEN_KEY); // an earlier version's
    } catch { /* blocked: nothing was kept there either */ }
  }

  /** The stored token, if any. */
  get(): string | undefined {
    try {
      return this.#storage?.getItem(TOKEN_KEY) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores a token. */
  set(token: string): void {
    try {
      this.#storage?.setItem(TOKEN_KEY, token);
    } catch { /* not kept: the next reload asks for the password */ }
  }

  /** Removes the token; with `onlyIf`, only when the stored one is that token. */
  clear(onlyIf?: string): void {
    try {
      if (onlyIf !== undefined && this.get() !== onlyIf) return;
      this.#storage?.removeItem(TOKEN_KEY);
    } catch { /* nothing to remove */ }
  }
}
