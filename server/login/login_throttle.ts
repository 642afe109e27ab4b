/**
 * Slows down password guessing on one account without slowing any other.
 *
 * The policy (defaults in {@linkcode DEFAULT_THROTTLE_POLICY}): attempts on one account (the key,
 * a lower-cased username) run one at a time, so parallel guesses are judged in turn. The first 3
 * failures in a row cost nothing; after them each attempt waits first, 0.5 s, then 1 s, 2 s, up
 * to 4 s. The 5th failure in a row locks the account for 60 s, and each failure after a lock
 * locks it again for twice as long, up to 15 min; while locked, every attempt (right password or
 * not) is refused at once with the time left. A success clears the account's record; 15 min
 * without a failure (and no lock running) forgets it. At most 8 attempts on one account may wait
 * their turn, more are refused as busy. At most 100,000 accounts are tracked; past that the one
 * whose last failure is oldest is forgotten.
 *
 * @example
 * ```ts
 * const throttle = new LoginThrottle();
 * const outcome = await throttle.attempt("alice01", async () => ({ ok: false, value: undefined }));
 * if (outcome.kind === "locked") console.log(`try again in ${outcome.retryAfterMs} ms`);
 * ```
 * @module
 */

import { KeyedLock } from "./keyed_lock.ts";

/** The numbers of the policy. */
export interface ThrottlePolicy {
  /** Failures in a row before attempts are slowed down. */
  freeFailures: number;
  /** Wait before the first slowed attempt; doubles with each further failure. */
  baseDelayMs: number;
  /** Longest wait before an attempt. */
  maxDelayMs: number;
  /** Failures in a row that lock the account. */
  lockAfter: number;
  /** The first lock; doubles with each further failure. */
  lockMs: number;
  /** Longest lock. */
  maxLockMs: number;
  /** A record is forgotten this long after its last failure, once no lock runs. */
  forgetMs: number;
  /** Attempts on one account that may wait their turn. */
  maxWaiting: number;
  /** Accounts tracked at most. */
  maxEntries: number;
}

/** The policy described in the module text. */
export const DEFAULT_THROTTLE_POLICY: Readonly<ThrottlePolicy> = Object.freeze({
  freeFailures: 3,
  baseDelayMs: 500,
  maxDelayMs: 4000,
  lockAfter: 5,
  lockMs: 60_000,
  maxLockMs: 15 * 60_000,
  forgetMs: 15 * 60_000,
  maxWaiting: 8,
  maxEntries: 100_000,
});

/** How an attempt went. */
export type AttemptOutcome<T> =
  /** It ran; `ok` is what it reported. */
  | { kind: "done"; ok: boolean; value: T }
  /** The account is locked: the attempt did not run. */
  | { kind: "locked"; retryAfterMs: number }
  /** Too many attempts on the account are waiting: the attempt did not run. */
  | { kind: "busy"; retryAfterMs: number };

/** Options of {@linkcode LoginThrottle}. */
export interface LoginThrottleOptions {
  policy?: Partial<ThrottlePolicy>;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /** How to wait. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** What is known of one account. */
export interface ThrottleRecord {
  /** Failures in a row. */
  failures: number;
  lastFailureAt: number;
  /** 0 when not locked. */
  lockedUntil: number;
}

/** Counts failures per account and slows, then locks, repeated ones. */
export class LoginThrottle {
  #policy: ThrottlePolicy;
  #now: () => number;
  #sleep: (ms: number) => Promise<void>;
  #records = new Map<string, ThrottleRecord>();
  #lock = new KeyedLock<string>();

  constructor(options: LoginThrottleOptions = {}) {
    this.#policy = { ...DEFAULT_THROTTLE_POLICY, ...options.policy };
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ??
      ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The policy in force. */
  get policy(): Readonly<ThrottlePolicy> {
    return this.#policy;
  }

  /** Accounts tracked now. */
  get size(): number {
    return this.#records.size;
  }

  /** What is known of an account, or `undefined`. */
  record(key: string): ThrottleRecord | undefined {
    const record = this.#current(key);
    return record ? { ...record } : undefined;
  }

  /** The wait before an attempt after `failures` failures in a row. */
  delayFor(failures: number): number {
    const p = this.#policy;
    if (failures < p.freeFailures) return 0;
    return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (failures - p.freeFailures));
  }

  /** The lock after `failures` failures in a row, 0 when they do not lock. */
  lockFor(failures: number): number {
    const p = this.#policy;
    if (failures < p.lockAfter) return 0;
    return Math.min(p.maxLockMs, p.lockMs * 2 ** Math.min(30, failures - p.lockAfter));
  }

  /**
   * Runs one attempt on `key` in its turn: refused while the account is locked or too many
   * attempts wait, otherwise delayed by the policy, then run. `run` reports whether the attempt
   * succeeded; a failure is counted and may lock the account, a success clears its record.
   */
  attempt<T>(
    key: string,
    run: () => Promise<{ ok: boolean; value: T }>,
  ): Promise<AttemptOutcome<T>> {
    if (this.#lock.pending(key) >= this.#policy.maxWaiting) {
      return Promise.resolve({ kind: "busy", retryAfterMs: this.#policy.maxDelayMs });
    }
    return this.#lock.run(key, async (): Promise<AttemptOutcome<T>> => {
      const before = this.#current(key);
      if (before && before.lockedUntil > this.#now()) {
        return { kind: "locked", retryAfterMs: before.lockedUntil - this.#now() };
      }
      const wait = this.delayFor(before?.failures ?? 0);
      if (wait > 0) await this.#sleep(wait);
      const result = await run();
      if (result.ok) {
        this.#records.delete(key);
      } else {
        this.#fail(key);
      }
      return { kind: "done", ok: result.ok, value: result.value };
    });
  }

  #fail(key: string): void {
    const now = this.#now();
    const record = this.#current(key) ?? { failures: 0, lastFailureAt: now, lockedUntil: 0 };
    record.failures++;
    record.lastFailureAt = now;
    const lock = this.lockFor(record.failures);
    if (lock > 0) record.lockedUntil = now + lock;
    // Re-insert so that the map's order is the order of last failures, oldest first.
    this.#records.delete(key);
    this.#records.set(key, record);
    while (this.#records.size > this.#policy.maxEntries) {
      this.#records.delete(this.#records.keys().next().value!);
    }
  }

  /** The record of `key`, dropped first when it is old enough to forget. */
  #current(key: string): ThrottleRecord | undefined {
    const record = this.#records.get(key);
    if (!record) return undefined;
    const now = this.#now();
    if (record.lockedUntil <= now && now - record.lastFailureAt > this.#policy.forgetMs) {
      this.#records.delete(key);
      return undefined;
    }
    return record;
  }
}
