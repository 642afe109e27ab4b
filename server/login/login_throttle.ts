/**
 * Slows down password guessing without letting a guesser lock anyone else out.
 *
 * Failed attempts are counted by who makes them: per (account, source) and per source, where the
 * account is the lower-cased username (whether or not it exists) and the source is the client's
 * address as the gate stamped it (`clientAddr`). Nothing is counted per account alone, so nothing
 * another source does slows or refuses the account's owner from a clean source.
 *
 * The policy (defaults in {@linkcode DEFAULT_THROTTLE_POLICY}):
 * - **One account from one source.** Attempts run one at a time, so parallel guesses are judged
 *   in turn; at most 8 may wait their turn, more are refused as busy. The first 3 failures in a
 *   row cost nothing; after them each attempt waits first, 0.5 s, then 1 s, 2 s, up to 4 s. The
 *   5th failure in a row locks the account for that source for 60 s, and each failure after a
 *   lock locks it again for twice as long, up to 15 min. A success clears the record.
 * - **One source, any account** (unknown usernames included). The first 10 failures cost
 *   nothing; after them each attempt from the source waits 0.5 s, doubling up to 4 s. The 30th
 *   failure locks the source for 60 s, and each failure after a lock locks it again for twice as
 *   long, up to 15 min. A success does not clear it (a guesser with an account of its own could
 *   otherwise reset it); it is forgotten like the others.
 * - An attempt waits the longer of its two waits. While either lock runs, every attempt it covers
 *   (right password or not) is refused at once with the time left.
 * - A record is forgotten 15 min after its last failure once no lock runs. At most 100,000
 *   (account, source) records and 100,000 source records are kept; past that the one whose last
 *   failure is oldest is forgotten.
 * - With a {@linkcode ThrottleStore} (option `store`), the records live there too: each attempt
 *   reads its pair's and its source's record from the store first, and each failure is counted
 *   there by an atomic read-modify-write; so login instances sharing the store (NATS KV in a
 *   cluster, `throttle_kv.ts`; the SQLite file of `throttle_sqlite.ts` on one machine) judge
 *   together, and a restart forgets nothing. Attempts run one at a time per instance: N instances
 *   may run N attempts on one pair at once, so at most N − 1 more than one instance would run
 *   before a lock. A store that fails is logged and the attempt judged on what this instance
 *   knows.
 * - For the hasher's queue ({@linkcode LoginThrottle.standing}), a source is `suspect` with 3
 *   failures or more on record, else `trusted` for 15 min after a success (the last 100,000 such
 *   sources are remembered), else `new`.
 *
 * @example
 * ```ts
 * const throttle = new LoginThrottle();
 * const outcome = await throttle.attempt(
 *   { account: "alice01", source: "203.0.113.9" },
 *   async () => ({ ok: false, value: undefined }),
 * );
 * if (outcome.kind === "locked") console.log(`${outcome.scope}: ${outcome.retryAfterMs} ms`);
 * ```
 * @module
 */

import { KeyedLock } from "./keyed_lock.ts";
import { countFailure, type ThrottleRecord, type ThrottleStore } from "./throttle_store.ts";

export type { ThrottleRecord, ThrottleStore };

/** The numbers of the policy. */
export interface ThrottlePolicy {
  /** Failures in a row on one account from one source before its attempts are slowed. */
  freeFailures: number;
  /** Wait before the first slowed attempt; doubles with each further failure. */
  baseDelayMs: number;
  /** Longest wait before an attempt. */
  maxDelayMs: number;
  /** Failures in a row on one account from one source that lock it for that source. */
  lockAfter: number;
  /** Failures from one source, any account, before its attempts are slowed. */
  sourceFreeFailures: number;
  /** Failures from one source, any account, that lock the source. */
  sourceLockAfter: number;
  /** The first lock (of either kind); doubles with each further failure. */
  lockMs: number;
  /** Longest lock. */
  maxLockMs: number;
  /** A record is forgotten this long after its last failure, once no lock runs. */
  forgetMs: number;
  /** Attempts on one account from one source that may wait their turn. */
  maxWaiting: number;
  /** Records of each kind kept at most. */
  maxEntries: number;
}

/** The policy described in the module text. */
export const DEFAULT_THROTTLE_POLICY: Readonly<ThrottlePolicy> = Object.freeze({
  freeFailures: 3,
  baseDelayMs: 500,
  maxDelayMs: 4000,
  lockAfter: 5,
  sourceFreeFailures: 10,
  sourceLockAfter: 30,
  lockMs: 60_000,
  maxLockMs: 15 * 60_000,
  forgetMs: 15 * 60_000,
  maxWaiting: 8,
  maxEntries: 100_000,
});

/** Who makes an attempt on what. */
export interface AttemptKey {
  /** The lower-cased username. */
  account: string;
  /** The client's address. */
  source: string;
}

/** How an attempt went. */
export type AttemptOutcome<T> =
  /** It ran; `ok` is what it reported. */
  | { kind: "done"; ok: boolean; value: T }
  /** The account is locked for this source, or the source is: the attempt did not run. */
  | { kind: "locked"; scope: "account" | "source"; retryAfterMs: number }
  /** Too many attempts on the account from this source are waiting: the attempt did not run. */
  | { kind: "busy"; retryAfterMs: number };

/** Options of {@linkcode LoginThrottle}. */
export interface LoginThrottleOptions {
  /** Where records are shared and kept (see the module text); this process's memory alone when absent. */
  store?: ThrottleStore;
  /** Told when the store fails (the attempt goes on with what this instance knows). */
  onStoreError?: (error: unknown) => void;
  policy?: Partial<ThrottlePolicy>;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /** How to wait. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** The two rules: what a number of failures costs. */
interface Rule {
  free: number;
  lockAfter: number;
}

/** Records of one kind, the order of the map the order of last failures, oldest first. */
class Records {
  #map = new Map<string, ThrottleRecord>();
  #policy: ThrottlePolicy;
  #now: () => number;

  constructor(policy: ThrottlePolicy, now: () => number) {
    this.#policy = policy;
    this.#now = now;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The record of `key`, dropped first when it is old enough to forget. */
  get(key: string): ThrottleRecord | undefined {
    const record = this.#map.get(key);
    if (!record) return undefined;
    const now = this.#now();
    if (record.lockedUntil <= now && now - record.lastFailureAt > this.#policy.forgetMs) {
      this.#map.delete(key);
      return undefined;
    }
    return record;
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  /** Counts a failure; locks when the count calls for it. */
  fail(key: string, lockFor: (failures: number) => number): ThrottleRecord {
    const record = countFailure(
      { record: this.get(key), now: this.#now(), forgetMs: this.#policy.forgetMs },
      lockFor,
    );
    this.put(key, record);
    return record;
  }

  /** Sets the record of `key` (as the store has it), the newest in the order. */
  put(key: string, record: ThrottleRecord): void {
    this.#map.delete(key);
    this.#map.set(key, { ...record });
    while (this.#map.size > this.#policy.maxEntries) {
      this.#map.delete(this.#map.keys().next().value!);
    }
  }
}

/** Counts failures per (account, source) and per source, and slows, then locks, repeated ones. */
export class LoginThrottle {
  #policy: ThrottlePolicy;
  #now: () => number;
  #sleep: (ms: number) => Promise<void>;
  #pairs: Records;
  #sources: Records;
  /** When a login last succeeded from each source, oldest first. */
  #successes = new Map<string, number>();
  #lock = new KeyedLock<string>();
  #store?: ThrottleStore;
  #onStoreError: (error: unknown) => void;

  constructor(options: LoginThrottleOptions = {}) {
    this.#policy = { ...DEFAULT_THROTTLE_POLICY, ...options.policy };
    this.#store = options.store;
    this.#onStoreError = options.onStoreError ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ??
      ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#pairs = new Records(this.#policy, this.#now);
    this.#sources = new Records(this.#policy, this.#now);
  }

  /** The policy in force. */
  get policy(): Readonly<ThrottlePolicy> {
    return this.#policy;
  }

  /** Records kept now: (account, source) pairs and sources. */
  get size(): { pairs: number; sources: number } {
    return { pairs: this.#pairs.size, sources: this.#sources.size };
  }

  /** What is known of an account from a source, or `undefined`. */
  record(key: AttemptKey): ThrottleRecord | undefined {
    const record = this.#pairs.get(pairKey(key));
    return record ? { ...record } : undefined;
  }

  /** What is known of a source, or `undefined`. */
  sourceRecord(source: string): ThrottleRecord | undefined {
    const record = this.#sources.get(source);
    return record ? { ...record } : undefined;
  }

  /**
   * How far the hasher trusts a source: `suspect` with `freeFailures` failures or more on
   * record, else `trusted` when a login succeeded from it within `forgetMs`, else `new`.
   */
  standing(source: string): "trusted" | "new" | "suspect" {
    const failures = this.#sources.get(source)?.failures ?? 0;
    if (failures >= this.#policy.freeFailures) return "suspect";
    const at = this.#successes.get(source);
    if (at !== undefined && this.#now() - at <= this.#policy.forgetMs) return "trusted";
    return "new";
  }

  /** The wait before an attempt after `failures` on one account from one source. */
  delayFor(failures: number): number {
    return this.#delay(failures, this.#pairRule());
  }

  /** The lock after `failures` in a row on one account from one source, 0 when none. */
  lockFor(failures: number): number {
    return this.#lockLength(failures, this.#pairRule());
  }

  /** The wait before an attempt from a source after `failures` from it. */
  sourceDelayFor(failures: number): number {
    return this.#delay(failures, this.#sourceRule());
  }

  /** The lock of a source after `failures` from it, 0 when none. */
  sourceLockFor(failures: number): number {
    return this.#lockLength(failures, this.#sourceRule());
  }

  /**
   * Runs one attempt in its turn: refused while the account is locked for the source, or the
   * source is locked, or too many attempts wait; otherwise delayed by the policy, then run. `run`
   * reports whether the attempt succeeded: a failure is counted for the pair and the source and
   * may lock either, a success clears the pair's record.
   */
  attempt<T>(
    key: AttemptKey,
    run: () => Promise<{ ok: boolean; value: T }>,
  ): Promise<AttemptOutcome<T>> {
    const pair = pairKey(key);
    if (this.#lock.pending(pair) >= this.#policy.maxWaiting) {
      return Promise.resolve({ kind: "busy", retryAfterMs: this.#policy.maxDelayMs });
    }
    return this.#lock.run(pair, async (): Promise<AttemptOutcome<T>> => {
      await this.#pull(key, { pair: true });
      const locked = this.#locked(key);
      if (locked) return locked;
      const wait = Math.max(
        this.delayFor(this.#pairs.get(pair)?.failures ?? 0),
        this.sourceDelayFor(this.#sources.get(key.source)?.failures ?? 0),
      );
      if (wait > 0) {
        await this.#sleep(wait);
        // A lock may have started meanwhile (other accounts from the same source).
        await this.#pull(key, { pair: false });
        const lockedSince = this.#locked(key);
        if (lockedSince) return lockedSince;
      }
      const result = await run();
      if (result.ok) {
        if (this.#store && this.#pairs.get(pair)) {
          await this.#store.delete(`p\u0000${pair}`).catch(this.#onStoreError);
        }
        this.#pairs.delete(pair);
        this.#successes.delete(key.source);
        this.#successes.set(key.source, this.#now());
        if (this.#successes.size > this.#policy.maxEntries) {
          this.#successes.delete(this.#successes.keys().next().value!);
        }
      } else {
        this.#pairs.fail(pair, (n) => this.lockFor(n));
        this.#sources.fail(key.source, (n) => this.sourceLockFor(n));
        await this.#push(key);
      }
      return { kind: "done", ok: result.ok, value: result.value };
    });
  }

  /** Reads the source's record, and the pair's, from the store into memory. */
  async #pull(key: AttemptKey, options: { pair: boolean }): Promise<void> {
    if (!this.#store) return;
    const pair = pairKey(key);
    try {
      const [source, record] = await Promise.all([
        this.#store.get(`s\u0000${key.source}`),
        options.pair ? this.#store.get(`p\u0000${pair}`) : undefined,
      ]);
      if (source) this.#sources.put(key.source, source);
      else this.#sources.delete(key.source);
      if (!options.pair) return;
      if (record) this.#pairs.put(pair, record);
      else this.#pairs.delete(pair);
    } catch (error) {
      this.#onStoreError(error);
    }
  }

  /** Counts a failure in the store; memory then holds what the store counted. */
  async #push(key: AttemptKey): Promise<void> {
    if (!this.#store) return;
    const pair = pairKey(key);
    const now = this.#now();
    const forgetMs = this.#policy.forgetMs;
    try {
      const [record, source] = await Promise.all([
        this.#store.update(
          `p\u0000${pair}`,
          (current) => countFailure({ record: current, now, forgetMs }, (n) => this.lockFor(n)),
        ),
        this.#store.update(
          `s\u0000${key.source}`,
          (current) =>
            countFailure({ record: current, now, forgetMs }, (n) => this.sourceLockFor(n)),
        ),
      ]);
      this.#pairs.put(pair, record);
      this.#sources.put(key.source, source);
    } catch (error) {
      this.#onStoreError(error);
    }
  }

  #locked(key: AttemptKey): AttemptOutcome<never> | undefined {
    const now = this.#now();
    const source = this.#sources.get(key.source);
    if (source && source.lockedUntil > now) {
      return { kind: "locked", scope: "source", retryAfterMs: source.lockedUntil - now };
    }
    const pair = this.#pairs.get(pairKey(key));
    if (pair && pair.lockedUntil > now) {
      return { kind: "locked", scope: "account", retryAfterMs: pair.lockedUntil - now };
    }
    return undefined;
  }

  #pairRule(): Rule {
    return { free: this.#policy.freeFailures, lockAfter: this.#policy.lockAfter };
  }

  #sourceRule(): Rule {
    return { free: this.#policy.sourceFreeFailures, lockAfter: this.#policy.sourceLockAfter };
  }

  #delay(failures: number, rule: Rule): number {
    const p = this.#policy;
    if (failures < rule.free) return 0;
    return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.min(30, failures - rule.free));
  }

  #lockLength(failures: number, rule: Rule): number {
    const p = this.#policy;
    if (failures < rule.lockAfter) return 0;
    return Math.min(p.maxLockMs, p.lockMs * 2 ** Math.min(30, failures - rule.lockAfter));
  }
}

function pairKey(key: AttemptKey): string {
  return `${key.source}\u0000${key.account}`;
}
