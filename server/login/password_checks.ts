/**
 * The login service's password checks and hashes (register, login, change password, delete
 * account). They are throttled by the sender's address (`clientAddr`, see `login_throttle.ts`)
 * and share the hasher fairly between addresses (`hash_scheduler.ts`). One connection has at
 * most one of them in flight: a second waits for the first to finish (at most
 * {@linkcode MAX_CHECKS_WAITING_PER_CONNECTION} wait, more are answered `SERVER_BUSY`, as is one
 * that waited over {@linkcode MAX_CHECK_WAIT_MS}). A username that does not exist costs a check
 * against a dummy hash and gets the same answer as a wrong password.
 *
 * @example
 * ```ts ignore
 * const passwords = new PasswordChecks({ hasher, throttle, log });
 * const { account } = await passwords.check({
 *   request,
 *   key: "alice01",
 *   account: () => store.accountByName("alice01"),
 *   password,
 *   wrong: "The username or password is wrong",
 * });
 * ```
 * @module
 */

import { ServiceError, type ServiceRequest } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import type { Account } from "./account_store.ts";
import { KeyedLock } from "./keyed_lock.ts";
import { HasherBusyError, type PasswordHasher } from "./password_hash.ts";
import type { LoginThrottle } from "./login_throttle.ts";

/** What the service tells of its lockouts. */
export interface LockoutEvents {
  /** A failed login locked its account for the address it came from. */
  locked(): void;
  /** An attempt was refused at once: its account (for that address) or its address is locked. */
  refused(): void;
}

/** Options of {@linkcode PasswordChecks}. */
export interface PasswordChecksOptions {
  /** Hashes and verifies passwords. */
  hasher: PasswordHasher;
  /** Locks out accounts and addresses after failed attempts. */
  throttle: LoginThrottle;
  /** Where notable events are written. */
  log: Logger;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /** Told of lockouts and of attempts refused while locked (the `/metrics` counters). */
  lockouts?: LockoutEvents;
}

/** A password that checked out: its account, and how long the check waited and took. */
export interface PasswordCheck {
  /** The account whose password it is. */
  account: Account;
  /** Its stored hash is weaker than the current cost: hash the password again. */
  needsRehash: boolean;
  /** From the request's arrival: to the hash's start (turns, throttle, hasher), and to its end. */
  timing: { waitedMs: number; checkMs: number };
}

/** Password checks of one connection that may wait for the one in flight. */
export const MAX_CHECKS_WAITING_PER_CONNECTION = 64;

/** Longest wait of a password check for its connection's turn (under the gate's timeout). */
export const MAX_CHECK_WAIT_MS = 8000;

/** The sender's address, as the gate stamped it; requests without one share `"unknown"`. */
export function sourceOf(request: ServiceRequest): string {
  return request.clientAddr || "unknown";
}

function fail(msg: string): ServiceError {
  return new ServiceError(State.FAIL, msg);
}

/** Checks and hashes passwords, one at a time per connection, throttled per address. */
export class PasswordChecks {
  #hasher: PasswordHasher;
  #throttle: LoginThrottle;
  #log: Logger;
  #now: () => number;
  /** Password checks and hashes of one connection happen one at a time. */
  #checks = new KeyedLock<number>();
  #lockouts?: LockoutEvents;

  /** Checks over a hasher and a throttle. */
  constructor(options: PasswordChecksOptions) {
    this.#hasher = options.hasher;
    this.#throttle = options.throttle;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#lockouts = options.lockouts;
  }

  /**
   * Checks a password in the connection's turn and the throttle's. Throws `FAIL` with `wrong`
   * when the account is missing or the password is wrong, `FAIL` with the time to wait when the
   * account is locked for the sender's address or the address is, `SERVER_BUSY` when the hasher
   * refuses.
   */
  async check(options: {
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

  /** Hashes a new password in the connection's turn; `SERVER_BUSY` when the hasher refuses. */
  async hash(request: ServiceRequest, password: string): Promise<string> {
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
}
