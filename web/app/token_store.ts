/**
 * The login token kept in `localStorage`, so that a reload (or a new tab) logs in again by token
 * instead of asking for the password. Storage can be disabled or full: then the page works as
 * before, only without staying logged in.
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
      this.#storage = storage ?? globalThis.localStorage;
    } catch {
      this.#storage = undefined; // storage blocked by the browser's settings
    }
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
