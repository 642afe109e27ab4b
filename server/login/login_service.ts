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
 * by the sender's address (`clientAddr`, see `login_throttle.ts`) and share the hasher fairly
 * between addresses (`hash_scheduler.ts`). One connection has at most one of them in flight: a
 * second waits for the first to finish (at most {@linkcode MAX_CHECKS_WAITING_PER_CONNECTION}
 * wait, more are answered `SERVER_BUSY`, as is one that waited over
 * {@linkcode MAX_CHECK_WAIT_MS}). A username that does not exist costs a check against a
 * dummy hash and gets the same answer as a wrong password.
 *
 * @example
 * ```ts
 * const login = new LoginService({ store, hasher, throttle, sessions, tokenTtlMs, log });
 * login.install(serviceClient);
 * ```
 * @module
 */

import { type ServiceClient, ServiceError, type ServiceRequest } from "../../client/mod.ts";
import { LoginCmd, State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import {
  type Account,
  AccountGoneError,
  type AccountStore,
  UsernameTakenError,
} from "./account_store.ts";
import { credentialField, objectData, tokenField } from "./fields.ts";
import { WriterClosedError } from "./group_commit.ts";
import { KeyedLock } from "./keyed_lock.ts";
import { HasherBusyError, type PasswordHasher } from "./password_hash.ts";
import type { LoginThrottle } from "./login_throttle.ts";
import type { SessionRegistry } from "./sessions.ts";
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

/** What the service tells of its lockouts. */
export interface LockoutEvents {
  /** A failed login locked its account for the address it came from. */
  locked(): void;
  /** An attempt was refused at once: its account (for that address) or its address is locked. */
  refused(): void;
}

/** What a login answers. */
export interface LoginAnswer {
  userId: number;
  username: string;
  token: string;
  /** When the token expires, ms since the epoch. */
  expiresAt: number;
}

/** Password checks of one connection that may wait for the one in flight. */
export const MAX_CHECKS_WAITING_PER_CONNECTION = 64;

/** Longest wait of a password check for its connection's turn (under the gate's timeout). */
export const MAX_CHECK_WAIT_MS = 8000;

const WRONG_CREDENTIALS = "The username or password is wrong";
const WRONG_PASSWORD = "The password is wrong";

/** The sender's address, as the gate stamped it; requests without one share `"unknown"`. */
function sourceOf(request: ServiceRequest): string {
  return request.clientAddr || "unknown";
}

function fail(msg: string): ServiceError {
  return new ServiceError(State.FAIL, msg);
}

/** A password that checked out: its account, and how long the check waited and took. */
interface PasswordCheck {
  account: Account;
  needsRehash: boolean;
  /** From the request's arrival: to the hash's start (turns, throttle, hasher), and to its end. */
  timing: { waitedMs: number; checkMs: number };
}

/** Serves the login commands. */
export class LoginService {
  #store: AccountStore;
  #hasher: PasswordHasher;
  #throttle: LoginThrottle;
  #sessions: SessionRegistry;
  #ttlMs: number;
  #log: Logger;
  #now: () => number;
  /** Password checks and hashes of one connection happen one at a time. */
  #checks = new KeyedLock<number>();
  #lockouts?: LockoutEvents;

  constructor(options: LoginServiceOptions) {
    this.#store = options.store;
    this.#hasher = options.hasher;
    this.#throttle = options.throttle;
    this.#sessions = options.sessions;
    this.#ttlMs = options.tokenTtlMs;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#lockouts = options.lockouts;
  }

  /** Registers the commands and the client-leave and gate-down handlers on a service client. */
  install(service: ServiceClient): void {
    service
      .handle(LoginCmd.REGISTER, (request) => this.register(request))
      .handle(LoginCmd.LOGIN, (request) => this.login(request))
      .handle(LoginCmd.LOGIN_BY_TOKEN, (request) => this.loginByToken(request))
      .handle(LoginCmd.CHANGE_PW, (request) => this.changePassword(request))
      .handle(LoginCmd.LOGOUT, (request) => this.logout(request))
      .handle(LoginCmd.DELETE_ACCOUNT, (request) => this.deleteAccount(request))
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
    const passwordHash = await this.#hash(request, password);
    let userId: number;
    try {
      userId = await this.#store.createAccount({ username, passwordHash, now: this.#now() });
    } catch (error) {
      if (error instanceof UsernameTakenError) throw taken();
      throw this.#storageFailed(request.cmd, error);
    }
    this.#log.info("account registered", { userId, username, clientId: request.clientId });
    return { userId };
  }

  /** `cs_msg_login` {username, password} → {@linkcode LoginAnswer}; kicks the earlier session. */
  async login(request: ServiceRequest): Promise<LoginAnswer> {
    const data = objectData(request.data);
    const username = credentialField(data, "username");
    const password = credentialField(data, "password");
    const check = await this.#checkPassword({
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
        throw this.#storageFailed(request.cmd, error);
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
    const passwordHash = await this.#hash(request, newPassword);
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
        throw this.#storageFailed(request.cmd, error);
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
        throw this.#storageFailed(request.cmd, error);
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
        throw this.#storageFailed(request.cmd, error);
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
    return await this.#checkPassword({
      request: options.request,
      key: account.username.toLowerCase(),
      account: () => this.#store.accountById(options.userId),
      password: options.password,
      wrong: WRONG_PASSWORD,
    });
  }

  /**
   * Checks a password in the connection's turn and the throttle's. Throws `FAIL` with `wrong`
   * when the account is missing or the password is wrong, `FAIL` with the time to wait when the
   * account is locked for the sender's address or the address is, `SERVER_BUSY` when the hasher
   * refuses.
   */
  async #checkPassword(options: {
    request: ServiceRequest;
    key: string;
    account: () => Promise<Account | undefined>;
    password: string;
    wrong: string;
  }): Promise<PasswordCheck> {
    const source = sourceOf(options.request);
    const attempt = { account: options.key, source };
    const arrived = performance.now();
    let hashStart = arrived;
    const onStart = () => hashStart = performance.now();
    const outcome = await this.#oneAtATime(options.request, async () => {
      try {
        return await this.#throttle.attempt(attempt, async () => {
          const account = await options.account();
          const standing = () => this.#throttle.standing(source);
          if (!account) {
            await this.#hasher.verifyUnknown(options.password, { source, standing, onStart });
            return { ok: false, value: undefined };
          }
          const result = await this.#hasher.verify({
            stored: account.passwordHash,
            password: options.password,
            source,
            standing,
            onStart,
          });
          return { ok: result.ok, value: { account, needsRehash: result.needsRehash } };
        });
      } catch (error) {
        throw this.#busy(error);
      }
    });
    if (outcome.kind === "locked") {
      this.#lockouts?.refused();
      const seconds = Math.ceil(outcome.retryAfterMs / 1000);
      if (outcome.scope === "source") {
        this.#log.warn("attempt refused: address locked", { source, seconds });
        throw fail(`Too many failed logins from your address: try again in ${seconds} s`);
      }
      this.#log.warn("attempt refused: account locked for the address", {
        key: options.key,
        source,
        seconds,
      });
      throw fail(
        `Too many failed logins for this account from your address: try again in ${seconds} s`,
      );
    }
    if (outcome.kind === "busy") {
      const seconds = Math.ceil(outcome.retryAfterMs / 1000);
      throw fail(`Too many logins for this account at once: try again in ${seconds} s`);
    }
    if (!outcome.ok || !outcome.value) {
      const record = this.#throttle.record(attempt);
      const locked = record !== undefined && record.lockedUntil > this.#now();
      if (locked) this.#lockouts?.locked();
      this.#log.info("password refused", {
        key: options.key,
        source,
        failures: record?.failures,
        sourceFailures: this.#throttle.sourceRecord(source)?.failures,
        locked: locked ? true : undefined,
      });
      throw fail(options.wrong);
    }
    return {
      ...outcome.value,
      timing: {
        waitedMs: Math.round(hashStart - arrived),
        checkMs: Math.round(performance.now() - arrived),
      },
    };
  }

  async #hash(request: ServiceRequest, password: string): Promise<string> {
    return await this.#oneAtATime(request, async () => {
      try {
        const source = sourceOf(request);
        return await this.#hasher.hash(password, {
          source,
          standing: () => this.#throttle.standing(source),
        });
      } catch (error) {
        throw this.#busy(error);
      }
    });
  }

  /** Runs a password check or hash in the sender connection's turn, one at a time. */
  #oneAtATime<T>(request: ServiceRequest, work: () => Promise<T>): Promise<T> {
    if (this.#checks.pending(request.clientId) > MAX_CHECKS_WAITING_PER_CONNECTION) {
      throw new ServiceError(
        State.SERVER_BUSY,
        `More than ${MAX_CHECKS_WAITING_PER_CONNECTION} password checks are waiting on this ` +
          "connection: wait for their answers",
      );
    }
    const since = performance.now();
    return this.#checks.run(request.clientId, () => {
      // The gate answers TIMEOUT after its own limit: do not hash for a request given up on.
      if (performance.now() - since > MAX_CHECK_WAIT_MS) {
        throw new ServiceError(
          State.SERVER_BUSY,
          `A password check waited more than ${MAX_CHECK_WAIT_MS} ms on this connection: try again`,
        );
      }
      return work();
    });
  }

  #busy(error: unknown): unknown {
    if (!(error instanceof HasherBusyError)) return error;
    this.#log.warn("password hashing busy", { reason: error.message });
    const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
    return new ServiceError(State.SERVER_BUSY, `${error.message}: try again in ${seconds} s`);
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

  #storageFailed(cmd: string, error: unknown): ServiceError {
    if (error instanceof WriterClosedError) {
      return new ServiceError(State.SERVER_OFF, "The login service is stopping: try again");
    }
    this.#log.error("database write failed", { cmd, error });
    return fail("The account database could not save the change: try again");
  }
}
