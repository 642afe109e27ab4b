/**
 * The login service's commands (DESIGN.md, "The services"): register, login, login by token,
 * change password, logout and delete account. Each checks its fields (`BAD_REQUEST` with a
 * sentence naming the field), answers `NOT_LOGGED_IN` for a logged-in command from a connection
 * with no user, and answers OK only once its write has committed.
 *
 * Answers: `cs_msg_register` {userId} (it does not log in); `cs_msg_login` and
 * `cs_msg_login_by_token` {userId, username, token, expiresAt}; `cs_msg_change_pw` {token,
 * expiresAt} (every earlier token is revoked, the session stays logged in with the new one);
 * `cs_msg_logout` and `cs_msg_delete_account` {}. A password login revokes the account's earlier
 * tokens (one session per account, also across reconnects); a token login keeps its token.
 * The token writes and gate bindings of one account run one at a time, in arrival order, so that
 * the connection left bound is always the one whose token is still valid; with a shared session
 * registry (`kv_sessions.ts`), one at a time across every login instance.
 *
 * Password checks and hashes (register, login, change password, delete account) are throttled
 * by the sender's address, one at a time per connection (password_checks.ts). A failing accounts
 * store is answered as store_failures.ts says (`SERVER_BUSY` while the database is unreachable).
 *
 * @example
 * ```ts ignore
 * const login = new LoginService({ store, hasher, throttle, sessions, tokenTtlMs, log });
 * login.install(serviceClient);
 * ```
 * @module
 */

import { type ServiceClient, ServiceError, type ServiceRequest } from "../../client/mod.ts";
import { LoginCmd, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { AccountGoneError, type AccountStore, UsernameTakenError } from "./account_store.ts";
import { credentialField, objectData, tokenField } from "./fields.ts";
import { HasherBusyError, type PasswordHasher } from "./password_hash.ts";
import {
  type LockoutEvents,
  type PasswordCheck,
  PasswordChecks,
  sourceOf,
} from "./password_checks.ts";
import type { LoginThrottle } from "./login_throttle.ts";
import type { SessionRegistry } from "./sessions.ts";
import { StoreFailures } from "./store_failures.ts";
import { hashToken, newToken, sameSecret } from "./tokens.ts";

/** Options of {@linkcode LoginService}. */
export interface LoginServiceOptions {
  store: AccountStore;
  hasher: PasswordHasher;
  throttle: LoginThrottle;
  sessions: SessionRegistry;
  /** How long a token lives. */
  tokenTtlMs: number;
  log: Logger;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /** Told of lockouts and of attempts refused while locked (the `/metrics` counters). */
  lockouts?: LockoutEvents;
}

/** What a login answers. */
export interface LoginAnswer {
  userId: number;
  username: string;
  token: string;
  /** When the token expires, ms since the epoch. */
  expiresAt: number;
}

const WRONG_CREDENTIALS = "The username or password is wrong";
const WRONG_PASSWORD = "The password is wrong";

function fail(msg: string): ServiceError {
  return new ServiceError(State.FAIL, msg);
}

/** Serves the login commands. */
export class LoginService {
  #store: AccountStore;
  #hasher: PasswordHasher;
  #passwords: PasswordChecks;
  #failures: StoreFailures;
  #sessions: SessionRegistry;
  #ttlMs: number;
  #log: Logger;
  #now: () => number;

  constructor(options: LoginServiceOptions) {
    this.#store = options.store;
    this.#hasher = options.hasher;
    this.#passwords = new PasswordChecks(options);
    this.#failures = new StoreFailures(options);
    this.#sessions = options.sessions;
    this.#ttlMs = options.tokenTtlMs;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  /** Registers the commands and the client-leave and gate-down handlers on a service client. */
  install(service: ServiceClient): void {
    // A failing accounts store is answered as store_failures.ts says.
    const reach = <T>(work: Promise<T>) => this.#failures.reach(work);
    service
      .handle(LoginCmd.REGISTER, (request) => reach(this.register(request)))
      .handle(LoginCmd.LOGIN, (request) => reach(this.login(request)))
      .handle(LoginCmd.LOGIN_BY_TOKEN, (request) => reach(this.loginByToken(request)))
      .handle(LoginCmd.CHANGE_PW, (request) => reach(this.changePassword(request)))
      .handle(LoginCmd.LOGOUT, (request) => reach(this.logout(request)))
      .handle(LoginCmd.DELETE_ACCOUNT, (request) => reach(this.deleteAccount(request)))
      .onClientLeave((leave) => this.#sessions.clientLeft(leave))
      .onGateDown((down) => this.#sessions.gateDown(down));
  }

  /**
   * `cs_msg_register` {username, password} → {userId}. Usernames are unique without regard to
   * case; a taken one is refused with `FAIL`.
   */
  async register(request: ServiceRequest): Promise<{ userId: number }> {
    const data = objectData(request.data);
    const username = credentialField(data, "username");
    const password = credentialField(data, "password");
    const taken = () => fail(`Username ${username} is taken`);
    if (await this.#store.accountByName(username)) throw taken();
    const passwordHash = await this.#passwords.hash(request, password);
    let userId: number;
    try {
      userId = await this.#store.createAccount({ username, passwordHash, now: this.#now() });
    } catch (error) {
      if (error instanceof UsernameTakenError) throw taken();
      throw this.#failures.storageFailed(request.cmd, error);
    }
    this.#log.info("account registered", { userId, username, clientId: request.clientId });
    return { userId };
  }

  /** `cs_msg_login` {username, password} → {@linkcode LoginAnswer}; kicks the earlier session. */
  async login(request: ServiceRequest): Promise<LoginAnswer> {
    const data = objectData(request.data);
    const username = credentialField(data, "username");
    const password = credentialField(data, "password");
    const check = await this.#passwords.check({
      request,
      key: username.toLowerCase(),
      account: () => this.#store.accountByName(username),
      password,
      wrong: WRONG_CREDENTIALS,
    });
    const { account } = check;
    let rehash: { from: string; to: string } | undefined;
    if (check.needsRehash) {
      try {
        rehash = {
          from: account.passwordHash,
          to: await this.#hasher.hash(password, { source: sourceOf(request), standing: "trusted" }),
        };
      } catch (error) {
        if (!(error instanceof HasherBusyError)) throw error;
        // Raising the cost can wait for the next login.
      }
    }
    const token = newToken();
    const expiresAt = this.#now() + this.#ttlMs;
    const kicked = await this.#turn(account.id, async () => {
      try {
        await this.#store.issueLoginToken({
          userId: account.id,
          tokenHash: hashToken(token),
          expiresAt,
          now: this.#now(),
          rehash,
        });
      } catch (error) {
        if (error instanceof AccountGoneError) throw fail(WRONG_CREDENTIALS);
        throw this.#failures.storageFailed(request.cmd, error);
      }
      return await this.#bind({ request, userId: account.id, username: account.username, token });
    });
    this.#log.info("logged in", {
      userId: account.id,
      clientId: request.clientId,
      kicked,
      rehashed: rehash ? true : undefined,
      source: sourceOf(request),
      waitedMs: check.timing.waitedMs,
      checkMs: check.timing.checkMs,
    });
    return { userId: account.id, username: account.username, token, expiresAt };
  }

  /** `cs_msg_login_by_token` {token} → {@linkcode LoginAnswer}; kicks the earlier session. */
  async loginByToken(request: ServiceRequest): Promise<LoginAnswer> {
    const token = tokenField(objectData(request.data));
    const tokenHash = hashToken(token);
    const refused = () => fail("The token is not valid or has expired");
    const first = await this.#store.tokenOwner({ tokenHash, now: this.#now() });
    if (!first || !sameSecret(first.tokenHash, tokenHash)) throw refused();
    const { owner, kicked } = await this.#turn(first.userId, async () => {
      // Checked again in the account's turn: a logout may have revoked it meanwhile.
      const owner = await this.#store.tokenOwner({ tokenHash, now: this.#now() });
      if (!owner || !sameSecret(owner.tokenHash, tokenHash)) throw refused();
      const { userId, username } = owner;
      return { owner, kicked: await this.#bind({ request, userId, username, token }) };
    });
    this.#log.info("logged in by token", {
      userId: owner.userId,
      clientId: request.clientId,
      kicked,
    });
    return { userId: owner.userId, username: owner.username, token, expiresAt: owner.expiresAt };
  }

  /**
   * `cs_msg_change_pw` {password, newPassword} (logged in) → {token, expiresAt}: every token of
   * the account is revoked and the session goes on with the new one.
   */
  async changePassword(request: ServiceRequest): Promise<{ token: string; expiresAt: number }> {
    const userId = this.#loggedIn(request);
    const data = objectData(request.data);
    const password = credentialField(data, "password");
    const newPassword = credentialField(data, "newPassword");
    if (newPassword === password) throw fail("The new password must differ from the current one");
    const { account } = await this.#checkOwnPassword({ request, userId, password });
    const passwordHash = await this.#passwords.hash(request, newPassword);
    const token = newToken();
    const expiresAt = this.#now() + this.#ttlMs;
    await this.#turn(userId, async () => {
      try {
        await this.#store.changePassword({
          userId,
          passwordHash,
          tokenHash: hashToken(token),
          expiresAt,
          now: this.#now(),
        });
      } catch (error) {
        if (error instanceof AccountGoneError) throw this.#gone();
        throw this.#failures.storageFailed(request.cmd, error);
      }
      await this.#bind({ request, userId: account.id, username: account.username, token });
    });
    this.#log.info("password changed", { userId, clientId: request.clientId });
    return { token, expiresAt };
  }

  /** `cs_msg_logout` (logged in) → {}: revokes the account's tokens and unbinds the user. */
  async logout(request: ServiceRequest): Promise<Record<string, never>> {
    const userId = this.#loggedIn(request);
    await this.#turn(userId, async () => {
      try {
        await this.#store.revokeTokens(userId);
      } catch (error) {
        throw this.#failures.storageFailed(request.cmd, error);
      }
      await this.#sessions.end({ userId, clientId: request.clientId });
    });
    this.#log.info("logged out", { userId, clientId: request.clientId });
    return {};
  }

  /** `cs_msg_delete_account` {password} (logged in) → {}: the account and its tokens go. */
  async deleteAccount(request: ServiceRequest): Promise<Record<string, never>> {
    const userId = this.#loggedIn(request);
    const password = credentialField(objectData(request.data), "password");
    const { account } = await this.#checkOwnPassword({ request, userId, password });
    await this.#turn(userId, async () => {
      try {
        await this.#store.deleteAccount(userId);
      } catch (error) {
        throw this.#failures.storageFailed(request.cmd, error);
      }
      await this.#sessions.end({ userId, clientId: request.clientId });
    });
    this.#log.info("account deleted", {
      userId,
      username: account.username,
      clientId: request.clientId,
    });
    return {};
  }

  /** Token writes and gate bindings of one account happen in order, one at a time. */
  #turn<T>(userId: number, work: () => Promise<T>): Promise<T> {
    return this.#sessions.turn(userId, work);
  }

  /** The sender's user id; throws `NOT_LOGGED_IN` when the gate has none bound. */
  #loggedIn(request: ServiceRequest): number {
    if (!request.userId) throw new ServiceError(State.NOT_LOGGED_IN, "Log in first");
    return request.userId;
  }

  #gone(): ServiceError {
    return new ServiceError(State.NOT_LOGGED_IN, "The account no longer exists");
  }

  /** Checks the logged-in user's own password, throttled like a login. */
  async #checkOwnPassword(
    options: { request: ServiceRequest; userId: number; password: string },
  ): Promise<PasswordCheck> {
    const account = await this.#store.accountById(options.userId);
    if (!account) throw this.#gone();
    return await this.#passwords.check({
      request: options.request,
      key: account.username.toLowerCase(),
      account: () => this.#store.accountById(options.userId),
      password: options.password,
      wrong: WRONG_PASSWORD,
    });
  }

  /** Binds the user as the account's only session; resolves with the kicked connection. */
  async #bind(
    options: { request: ServiceRequest; userId: number; username: string; token: string },
  ): Promise<number | undefined> {
    const result = await this.#sessions.bind({
      userId: options.userId,
      clientId: options.request.clientId,
      token: options.token,
      username: options.username,
    });
    if (!result.bound) throw fail("The connection closed before the login finished");
    return result.kicked;
  }
}
