/**
 * The login state behind `GateClient`'s account helpers: who is logged in, with which token, and
 * the re-login by token that runs after every reconnect (the gate forgets a connection's user
 * when the connection goes).
 *
 * Re-login: after a (re)connect, before queued requests go out, a held token is sent with
 * `cs_msg_login_by_token`. A refusal (`FAIL`: revoked or expired, or `BAD_REQUEST`) drops the
 * token and tells the `onReloginFailed` handlers with `retrying: false`. When the login service
 * cannot answer now (`UNDEFINED_CMD` or `SERVER_OFF` while it reconnects to a restarted gate,
 * `SERVER_BUSY`, `TIMEOUT`, `RATE_LIMITED`), it tries again with backoff for up to
 * `reloginWaitMs`, then lets queued requests go, tells the handlers with `retrying: true`, and
 * keeps trying in the background while connected.
 *
 * A `sc_msg_kicked` push (another connection logged in to the account, or a service kicked this
 * one) drops the token too, so that a reconnect does not take the session back.
 *
 * @module
 */

import { LoginCmd, type ResponseEnvelope, State } from "../shared/mod.ts";
import { ConnectionLostError, RequestTimeoutError } from "./errors.ts";

/** What a login answers. */
export interface LoginResult {
  userId: number;
  username: string;
  token: string;
  /** When the token expires, ms since the epoch. */
  expiresAt: number;
}

/** Why a re-login by token after a reconnect did not succeed. */
export interface ReloginFailure {
  /** The response's state (`TIMEOUT` when the client gave up waiting). */
  state: number;
  msg: string;
  /** True: the token is kept and tried again; false: it was refused and dropped. */
  retrying: boolean;
}

/** States that say the login service could not answer now: the token may still be good. */
const TRANSIENT: ReadonlySet<number> = new Set([
  State.UNDEFINED_CMD,
  State.SERVER_BUSY,
  State.SERVER_OFF,
  State.TIMEOUT,
  State.RATE_LIMITED,
]);

/** Options of {@linkcode LoginSession}. */
export interface LoginSessionOptions {
  /** Sends a request on the current connection now (even before queued requests). */
  send(cmd: string, data: unknown, timeoutMs: number): Promise<ResponseEnvelope>;
  /** Whether the connection is up. */
  connected(): boolean;
  /** A token to log in with at the first connect. */
  token?: string;
  /** How long a re-login may hold queued requests back. Default 5000. */
  reloginWaitMs?: number;
  /** Shortest and longest wait between re-login attempts. Defaults 200 and 5000. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

type Attempt = "done" | "refused" | { state: number; msg: string };

/** Who is logged in, and the re-login by token after a reconnect. */
export class LoginSession {
  #options: LoginSessionOptions;
  #token?: string;
  #userId = 0;
  #username?: string;
  #expiresAt?: number;
  #loggedIn = false;
  #generation = 0;
  #retryTimer?: ReturnType<typeof setTimeout>;
  #failHandlers = new Set<(failure: ReloginFailure) => void>();

  constructor(options: LoginSessionOptions) {
    this.#options = options;
    this.#token = options.token;
  }

  /** The token held, if any. */
  get token(): string | undefined {
    return this.#token;
  }

  /** The user of the last login, 0 when none. */
  get userId(): number {
    return this.#userId;
  }

  /** The username of the last login. */
  get username(): string | undefined {
    return this.#username;
  }

  /** When the token expires, ms since the epoch. */
  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  /** Whether the current connection is logged in. */
  get loggedIn(): boolean {
    return this.#loggedIn;
  }

  /** Records a successful login on the current connection. */
  loggedInAs(result: LoginResult): void {
    this.#token = result.token;
    this.#userId = result.userId;
    this.#username = result.username;
    this.#expiresAt = result.expiresAt;
    this.#loggedIn = true;
    clearTimeout(this.#retryTimer);
  }

  /** Records a new token for the same session (after a password change). */
  newToken(token: { token: string; expiresAt: number }): void {
    this.#token = token.token;
    this.#expiresAt = token.expiresAt;
  }

  /** Forgets the login and the token (logout, account deleted, kicked). */
  clear(): void {
    this.#generation++;
    clearTimeout(this.#retryTimer);
    this.#token = undefined;
    this.#userId = 0;
    this.#username = undefined;
    this.#expiresAt = undefined;
    this.#loggedIn = false;
  }

  /** Hears re-logins that failed; returns a function that stops it. */
  onReloginFailed(handler: (failure: ReloginFailure) => void): () => void {
    this.#failHandlers.add(handler);
    return () => this.#failHandlers.delete(handler);
  }

  /** The connection went away: its login went with it. */
  disconnected(): void {
    this.#generation++;
    clearTimeout(this.#retryTimer);
    this.#loggedIn = false;
  }

  /**
   * Runs after every (re)connect, before queued requests: logs in again with the held token.
   * Throws `ConnectionLostError` when the connection goes meanwhile, so that it is retried.
   */
  async afterConnect(): Promise<void> {
    const generation = ++this.#generation;
    clearTimeout(this.#retryTimer);
    this.#loggedIn = false;
    if (!this.#token) return;
    const deadline = Date.now() + (this.#options.reloginWaitMs ?? 5000);
    let wait = this.#options.retryMinMs ?? 200;
    while (true) {
      const attempt = await this.#attempt(generation, Math.max(1000, deadline - Date.now()));
      if (!this.#options.connected()) throw new ConnectionLostError(LoginCmd.LOGIN_BY_TOKEN);
      if (attempt === "done" || attempt === "refused") return;
      if (Date.now() + wait > deadline) {
        this.#emit({ ...attempt, retrying: true });
        this.#retryLater(generation, wait);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = this.#nextWait(wait);
      if (generation !== this.#generation || !this.#token) return;
    }
  }

  /** Stops background retries for good. */
  close(): void {
    this.#generation++;
    clearTimeout(this.#retryTimer);
  }

  #nextWait(wait: number): number {
    return Math.min(this.#options.retryMaxMs ?? 5000, wait * 2);
  }

  #retryLater(generation: number, wait: number): void {
    this.#retryTimer = setTimeout(async () => {
      if (generation !== this.#generation || !this.#token || !this.#options.connected()) return;
      let attempt: Attempt;
      try {
        attempt = await this.#attempt(generation, this.#options.retryMaxMs ?? 5000);
      } catch {
        return; // the connection went: the next connect tries again
      }
      if (attempt !== "done" && attempt !== "refused" && generation === this.#generation) {
        this.#retryLater(generation, this.#nextWait(wait));
      }
    }, wait);
  }

  /** One `cs_msg_login_by_token`; "done" also when a newer connection or login took over. */
  async #attempt(generation: number, timeoutMs: number): Promise<Attempt> {
    const token = this.#token!;
    let response: ResponseEnvelope;
    try {
      response = await this.#options.send(LoginCmd.LOGIN_BY_TOKEN, { token }, timeoutMs);
    } catch (error) {
      if (!(error instanceof RequestTimeoutError)) throw error;
      return { state: State.TIMEOUT, msg: error.message };
    }
    if (generation !== this.#generation || this.#token !== token) return "done";
    if (response.state === State.OK) {
      this.loggedInAs(response.data as LoginResult);
      return "done";
    }
    const failure = { state: response.state, msg: response.msg ?? "" };
    if (TRANSIENT.has(response.state)) return failure;
    this.clear();
    this.#emit({ ...failure, retrying: false });
    return "refused";
  }

  #emit(failure: ReloginFailure): void {
    for (const handler of this.#failHandlers) {
      try {
        handler(failure);
      } catch (error) {
        console.error("A relogin-failed handler threw:", error);
      }
    }
  }
}
