/**
 * The failed-login throttle's records in a JetStream KV bucket (`gatehouse_throttle`), shared by
 * the login instances of a cluster and kept across their restarts (`login_throttle.ts`,
 * {@linkcode ThrottleStore}). A failure is counted by compare-and-set on the revision read, retried
 * when another instance wrote first. The bucket's TTL, the longer of the policy's forget time and
 * its longest lock, drops a record (and the marker of a deleted one) that long after its last
 * write: by then it would be forgotten anyway, so the bucket holds only live records.
 *
 * @example
 * ```ts ignore
 * const throttle = new LoginThrottle({ store: await KvThrottleStore.open({ nc }) });
 * ```
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { isWrongRevision, keyPart, kvBuckets } from "./cluster_kv.ts";
import { DEFAULT_THROTTLE_POLICY, type ThrottlePolicy } from "./login_throttle.ts";
import type { ThrottleRecord, ThrottleStore } from "./throttle_store.ts";
import { createShared } from "../shared_streams.ts";

/** The bucket of throttle records. */
export const THROTTLE_BUCKET = "gatehouse_throttle";
/** Compare-and-set attempts of one failure before it gives up. */
const MAX_TRIES = 20;

/** Throttle records in NATS KV. */
export class KvThrottleStore implements ThrottleStore {
  #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens (creating when absent) the bucket, its TTL taken from `policy`. */
  static async open(
    options: { nc: NatsConnection; policy?: Partial<ThrottlePolicy> },
  ): Promise<KvThrottleStore> {
    const policy = { ...DEFAULT_THROTTLE_POLICY, ...options.policy };
    const kv = await createShared(() =>
      kvBuckets(options.nc).create(THROTTLE_BUCKET, {
        history: 1,
        ttl: Math.max(policy.forgetMs, policy.maxLockMs),
      })
    );
    return new KvThrottleStore(kv);
  }

  /** The record of `key`, `undefined` when none. */
  async get(key: string): Promise<ThrottleRecord | undefined> {
    return (await this.#read(key)).record;
  }

  /** Replaces the record of `key` by `change(current)` by compare-and-set. */
  async update(
    key: string,
    change: (current: ThrottleRecord | undefined) => ThrottleRecord,
  ): Promise<ThrottleRecord> {
    const kvKey = keyPart(key);
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const { record, revision } = await this.#read(key);
      const next = change(record);
      const text = JSON.stringify(next);
      try {
        if (revision) await this.#kv.update(kvKey, text, revision);
        else await this.#kv.create(kvKey, text);
        return next;
      } catch (error) {
        if (!isWrongRevision(error)) throw error;
      }
    }
    throw new Error(`The throttle record could not be written after ${MAX_TRIES} tries`);
  }

  /** Forgets the record of `key`. */
  async delete(key: string): Promise<void> {
    await this.#kv.delete(keyPart(key));
  }

  async #read(key: string): Promise<{ record?: ThrottleRecord; revision: number }> {
    const found = await this.#kv.get(keyPart(key));
    if (!found) return { revision: 0 };
    if (found.operation !== "PUT") return { revision: found.revision };
    return { record: parseRecord(found.string()), revision: found.revision };
  }
}

/** A stored record, or `undefined` when the text is not one. */
export function parseRecord(text: string): ThrottleRecord | undefined {
  try {
    const value = JSON.parse(text) as ThrottleRecord;
    const ok = [value?.failures, value?.lastFailureAt, value?.lockedUntil].every((n) =>
      Number.isSafeInteger(n) && n >= 0
    );
    return ok ? value : undefined;
  } catch {
    return undefined;
  }
}
