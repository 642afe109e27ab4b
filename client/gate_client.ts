/**
 * `GateClient`: what users' programs and pages use to talk to a gate (DESIGN.md, "The clients").
 *
 * @example
 * ```ts
 * import { GateClient } from "./mod.ts";
 * const client = new GateClient({ url: "ws://127.0.0.1:8080/ws" });
 * await client.connect();
 * const response = await client.request("echo", { hello: "world" });
 * client.on("sc_msg_kicked", (data) => console.log("kicked", data));
 * client.close();
 * ```
 *
 * Accounts (the login service): `register`, `login`, `loginByToken`, `changePassword`, `logout`
 * and `deleteAccount`. After a login the client keeps `token` and `userId`, and after every
 * reconnect logs in again with the token by itself; `onReloginFailed` hears when that fails.
 *
 * @example
 * ```ts
 * const client = new GateClient({ url: "ws://127.0.0.1:8080/ws" });
 * await client.connect();
 * await client.register({ username: "alice01", password: "secret123" });
 * const { userId, token } = await client.login({ username: "alice01", password: "secret123" });
 * client.onReloginFailed((failure) => console.log("logged out:", failure.msg));
 * ```
 * @module
 */

import {
  GateCmd,
  LoginCmd,
  type PushEnvelope,
  type ResponseEnvelope,
  State,
} from "../shared/mod.ts";
import { ResponseError } from "./errors.ts";
import {
  type ChannelState,
  GateChannel,
  type GateChannelOptions,
  type RequestOptions,
} from "./gate_channel.ts";
import { type LoginResult, LoginSession, type ReloginFailure } from "./login_session.ts";

/** Options of {@linkcode GateClient}. */
export interface GateClientOptions extends GateChannelOptions {
  /** A token from an earlier login: the client logs in with it when it connects. */
  token?: string;
  /** How long a re-login by token after a reconnect may hold requests back. Default 5000. */
  reloginWaitMs?: number;
}

/** A username and password (6 to 16 letters and digits each). */
export interface Credentials {
  username: string;
  password: string;
}

/** A client of the gate: requests, pushes, heartbeat, reconnect. */
export class GateClient {
  /** The connection underneath, for subclasses and helpers. */
  protected readonly channel: GateChannel;
  #reconnectHooks: Array<() => Promise<void>> = [];
  #login: LoginSession;

  constructor(options: GateClientOptions) {
    this.channel = new GateChannel(options);
    this.channel.onConnected = async () => {
      for (const hook of this.#reconnectHooks) await hook();
    };
    this.#login = new LoginSession({
      send: (cmd, data, timeoutMs) => this.channel.send(cmd, data, timeoutMs),
      connected: () => this.channel.state === "connected",
      token: options.token,
      reloginWaitMs: options.reloginWaitMs,
    });
    this.afterConnect(() => this.#login.afterConnect());
    this.channel.onState((state) => {
      if (state !== "connected") this.#login.disconnected();
    });
    this.channel.on(GateCmd.KICKED, () => this.#login.clear());
  }

  /** Connects; resolves once connected (and logged in again, when a token is held). */
  connect(): Promise<void> {
    return this.channel.connect();
  }

  /**
   * Sends a request and resolves with its response, whatever its state. Rejects with
   * `RequestTimeoutError`, `ConnectionLostError` or `ClientClosedError`.
   */
  request<T = unknown>(
    cmd: string,
    data: unknown = {},
    options?: RequestOptions,
  ): Promise<ResponseEnvelope<T>> {
    return this.channel.request<T>(cmd, data, options);
  }

  /** Like {@linkcode request}, but resolves with `data` and throws `ResponseError` unless OK. */
  async requestOk<T = unknown>(
    cmd: string,
    data: unknown = {},
    options?: RequestOptions,
  ): Promise<T> {
    const response = await this.request<T>(cmd, data, options);
    if (response.state !== State.OK) throw new ResponseError(response);
    return response.data;
  }

  /** Handles pushes of one `cmd`; returns a function that removes the handler. */
  on<T = unknown>(cmd: string, handler: (data: T, push: PushEnvelope) => void): () => void {
    return this.channel.on(cmd, handler as (data: unknown, push: PushEnvelope) => void);
  }

  /** Hears every connection state change; returns a function that stops it. */
  onState(handler: (state: ChannelState, detail?: string) => void): () => void {
    return this.channel.onState(handler);
  }

  /** The connection state. */
  get state(): ChannelState {
    return this.channel.state;
  }

  /** The URL of the gate in use. */
  get url(): string {
    return this.channel.url;
  }

  /** The last heartbeat round trip, in milliseconds. */
  get rttMs(): number | undefined {
    return this.channel.rttMs;
  }

  /** Closes the client for good. */
  close(): void {
    this.#login.close();
    this.channel.close();
  }

  /** The token of the last login (kept across reconnects), if any. */
  get token(): string | undefined {
    return this.#login.token;
  }

  /** The user of the last login, 0 when none. */
  get userId(): number {
    return this.#login.userId;
  }

  /** The username of the last login. */
  get username(): string | undefined {
    return this.#login.username;
  }

  /** Whether the current connection is logged in. */
  get loggedIn(): boolean {
    return this.#login.loggedIn;
  }

  /**
   * Creates an account (`cs_msg_register`); it does not log in. Throws `ResponseError` unless OK
   * (`FAIL` when the username is taken, `BAD_REQUEST` for a malformed field).
   */
  register(credentials: Credentials, options?: RequestOptions): Promise<{ userId: number }> {
    return this.requestOk(LoginCmd.REGISTER, {
      username: credentials.username,
      password: credentials.password,
    }, options);
  }

  /**
   * Logs in (`cs_msg_login`); an earlier session of the account elsewhere is kicked. Keeps the
   * token for re-logins. Throws `ResponseError` unless OK.
   */
  async login(credentials: Credentials, options?: RequestOptions): Promise<LoginResult> {
    const result = await this.requestOk<LoginResult>(LoginCmd.LOGIN, {
      username: credentials.username,
      password: credentials.password,
    }, options);
    this.#login.loggedInAs(result);
    return result;
  }

  /**
   * Logs in with a token (`cs_msg_login_by_token`), the held one by default. Throws
   * `ResponseError` unless OK, and `TypeError` when there is no token.
   */
  async loginByToken(token?: string, options?: RequestOptions): Promise<LoginResult> {
    const use = token ?? this.#login.token;
    if (!use) throw new TypeError("There is no token to log in with");
    const result = await this.requestOk<LoginResult>(
      LoginCmd.LOGIN_BY_TOKEN,
      { token: use },
      options,
    );
    this.#login.loggedInAs(result);
    return result;
  }

  /**
   * Changes the password (`cs_msg_change_pw`, logged in): every earlier token is revoked and the
   * session goes on with the new one, which the client keeps. Throws `ResponseError` unless OK.
   */
  async changePassword(
    change: { password: string; newPassword: string },
    options?: RequestOptions,
  ): Promise<{ token: string; expiresAt: number }> {
    const result = await this.requestOk<{ token: string; expiresAt: number }>(
      LoginCmd.CHANGE_PW,
      { password: change.password, newPassword: change.newPassword },
      options,
    );
    this.#login.newToken(result);
    return result;
  }

  /** Logs out (`cs_msg_logout`): the account's tokens are revoked. Throws unless OK. */
  async logout(options?: RequestOptions): Promise<void> {
    await this.requestOk(LoginCmd.LOGOUT, {}, options);
    this.#login.clear();
  }

  /** Deletes the logged-in account (`cs_msg_delete_account`). Throws unless OK. */
  async deleteAccount(account: { password: string }, options?: RequestOptions): Promise<void> {
    await this.requestOk(LoginCmd.DELETE_ACCOUNT, { password: account.password }, options);
    this.#login.clear();
  }

  /**
   * Hears a re-login by token after a reconnect that failed: `retrying: false` when the token
   * was refused (expired or revoked; it is dropped), `true` when the login service could not
   * answer (the client keeps trying). Returns a function that stops it.
   */
  onReloginFailed(handler: (failure: ReloginFailure) => void): () => void {
    return this.#login.onReloginFailed(handler);
  }

  /** Adds work that runs after every (re)connect, before queued requests are sent. */
  protected afterConnect(hook: () => Promise<void>): void {
    this.#reconnectHooks.push(hook);
  }
}

export type { ChannelState, LoginResult, ReloginFailure, RequestOptions };
