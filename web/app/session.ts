/**
 * The page's login session over `GateClient`: register, log in, change password, log out and
 * delete the account, with the token kept in `sessionStorage` (see {@linkcode TokenStore}) so that
 * a reload logs in again by token. The stored token is cleared on logout, account deletion, a
 * kick (`sc_msg_kicked`: the account logged in elsewhere) and a refused re-login by token.
 *
 * Listeners hear every change of who is logged in, with the reason.
 *
 * @module
 */

import type { Credentials, GateClient } from "../../client/browser.ts";
import { GateCmd } from "../../shared/mod.ts";
import type { TokenStore } from "./token_store.ts";

/** Why the login state changed. */
export type SessionChange =
  | "login"
  | "logout"
  | "deleted"
  | "kicked"
  | "refused"
  | "connection";

/** What a listener is told. */
export interface SessionEvent {
  change: SessionChange;
  /** The `reason` of a kick, or the `msg` of a refused token. */
  detail?: string;
}

/** Who is logged in on this page, and the actions that change it. */
export class Session {
  #client: GateClient;
  #tokens: TokenStore;
  #listeners = new Set<(event: SessionEvent) => void>();
  #beforeLogout = new Set<() => Promise<void>>();
  /** The token this page logged in with, to clear only our own on a kick. */
  #token?: string;
  #lastUsername?: string;

  constructor(client: GateClient, tokens: TokenStore) {
    this.#client = client;
    this.#tokens = tokens;
    this.#token = tokens.get();
    client.on<{ reason?: string }>(GateCmd.KICKED, (data) => {
      // The client has dropped its login already; drop the stored token if it is still ours.
      this.#tokens.clear(this.#token);
      this.#token = undefined;
      this.#emit({ change: "kicked", detail: data?.reason });
    });
    client.onReloginFailed((failure) => {
      if (failure.retrying) return;
      this.#tokens.clear(this.#token);
      this.#token = undefined;
      this.#emit({ change: "refused", detail: failure.msg });
    });
    client.onState((state) => {
      if (state === "connected") this.#afterConnect();
      else this.#emit({ change: "connection" });
    });
  }

  /** Whether this connection is logged in. */
  get loggedIn(): boolean {
    return this.#client.loggedIn;
  }

  /** The logged-in user's name. */
  get username(): string | undefined {
    return this.#client.loggedIn ? this.#client.username : undefined;
  }

  /** The logged-in user's id, 0 when none. */
  get userId(): number {
    return this.#client.loggedIn ? this.#client.userId : 0;
  }

  /** The username of the latest login on this page, kept after it ends. */
  get lastUsername(): string | undefined {
    return this.#lastUsername;
  }

  /** Hears every change of the login state; returns a function that stops it. */
  onChange(listener: (event: SessionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Work to do while still logged in, before a logout or deletion (leaving groups). */
  beforeLogout(work: () => Promise<void>): void {
    this.#beforeLogout.add(work);
  }

  /** Logs in with a password and keeps the token. */
  async login(credentials: Credentials): Promise<void> {
    const result = await this.#client.login(credentials);
    this.#keep(result.token);
    this.#emit({ change: "login" });
  }

  /** Creates an account, then logs in to it. */
  async register(credentials: Credentials): Promise<void> {
    await this.#client.register(credentials);
    await this.login(credentials);
  }

  /** Changes the password; the session goes on with the new token, which is kept. */
  async changePassword(change: { password: string; newPassword: string }): Promise<void> {
    const result = await this.#client.changePassword(change);
    this.#keep(result.token);
  }

  /** Logs out: the account's tokens are revoked and the stored one removed. */
  async logout(): Promise<void> {
    await this.#runBeforeLogout();
    await this.#client.logout();
    this.#forget();
    this.#emit({ change: "logout" });
  }

  /** Deletes the account (the password confirms it) and forgets the token. */
  async deleteAccount(password: string): Promise<void> {
    await this.#runBeforeLogout();
    await this.#client.deleteAccount({ password });
    this.#forget();
    this.#emit({ change: "deleted" });
  }

  #keep(token: string): void {
    this.#token = token;
    this.#tokens.set(token);
  }

  #forget(): void {
    this.#tokens.clear();
    this.#token = undefined;
  }

  async #runBeforeLogout(): Promise<void> {
    for (const work of this.#beforeLogout) {
      try {
        await work();
      } catch { /* best effort: the logout matters more */ }
    }
  }

  /**
   * After a (re)connect the client logs in again by token before any request goes out; a
   * heartbeat request waits for that, then listeners learn the outcome.
   */
  async #afterConnect(): Promise<void> {
    try {
      await this.#client.request(GateCmd.HEART, {});
    } catch {
      return; // lost again: the next connect tells
    }
    this.#emit({ change: "connection" });
  }

  #emit(event: SessionEvent): void {
    if (this.#client.loggedIn) this.#lastUsername = this.#client.username;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        console.error("A session listener threw:", error);
      }
    }
  }
}
