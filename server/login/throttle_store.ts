/**
 * What the failed-login throttle (`login_throttle.ts`) keeps, and where it may keep it beyond the
 * process: a {@linkcode ThrottleStore}, shared by the login instances that use it and kept across
 * restarts. `throttle_sqlite.ts` keeps records in a file on one machine, `throttle_kv.ts` in NATS KV
 * for a cluster. {@linkcode countFailure} is the one rule both memory and stores count by.
 *
 * @example
 * ```ts
 * import { countFailure } from "./throttle_store.ts";
 * const record = countFailure({ record: undefined, now: 0, forgetMs: 900_000 }, () => 0);
 * console.log(record.failures); // 1
 * ```
 * @module
 */

/** What is known of one (account, source) or one source. */
export interface ThrottleRecord {
  /** Failures counted (in a row, for an account and source). */
  failures: number;
  lastFailureAt: number;
  /** 0 when not locked. */
  lockedUntil: number;
}

/**
 * Where the records are kept beyond this process: shared by the instances that use it, kept
 * across restarts. Keys are opaque strings.
 */
export interface ThrottleStore {
  /** The record of `key`, `undefined` when none. */
  get(key: string): Promise<ThrottleRecord | undefined>;
  /** Replaces the record of `key` by `change(current)`, atomically; resolves with the new one. */
  update(
    key: string,
    change: (current: ThrottleRecord | undefined) => ThrottleRecord,
  ): Promise<ThrottleRecord>;
  /** Forgets the record of `key`. */
  delete(key: string): Promise<void>;
}

/**
 * A record after one more failure at `now`: a record old enough to forget counts as none, and
 * the count locks when `lockFor` says so.
 */
export function countFailure(
  options: { record: ThrottleRecord | undefined; now: number; forgetMs: number },
  lockFor: (failures: number) => number,
): ThrottleRecord {
  const { record, now } = options;
  const live =
    record && (record.lockedUntil > now || now - record.lastFailureAt <= options.forgetMs)
      ? record
      : undefined;
  const next = {
    failures: (live?.failures ?? 0) + 1,
    lastFailureAt: now,
    lockedUntil: live?.lockedUntil ?? 0,
  };
  const lock = lockFor(next.failures);
  if (lock > 0) next.lockedUntil = now + lock;
  return next;
}
