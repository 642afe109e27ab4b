/**
 * Runs async work one at a time per key: work for one key waits for the work before it, work for
 * other keys does not wait at all. The login service uses it so that parallel attempts on one
 * account are judged one after the other (throttle) and bindings of one user never interleave
 * (sessions).
 *
 * @example
 * ```ts
 * const lock = new KeyedLock<string>();
 * await Promise.all([
 *   lock.run("alice", async () => {}), // runs first
 *   lock.run("alice", async () => {}), // runs once the first has settled
 *   lock.run("bob", async () => {}), // runs at once
 * ]);
 * ```
 * @module
 */

/** Serializes async work per key. */
export class KeyedLock<K> {
  #tails = new Map<K, { tail: Promise<void>; count: number }>();

  /** How many calls for `key` are running or waiting. */
  pending(key: K): number {
    return this.#tails.get(key)?.count ?? 0;
  }

  /** How many keys have work running or waiting. */
  get size(): number {
    return this.#tails.size;
  }

  /** Runs `work` once every earlier call for `key` has settled; resolves with its result. */
  run<T>(key: K, work: () => Promise<T>): Promise<T> {
    const entry = this.#tails.get(key) ?? { tail: Promise.resolve(), count: 0 };
    entry.count++;
    const result = entry.tail.then(work);
    const settled = result.then(() => {}, () => {});
    entry.tail = settled;
    this.#tails.set(key, entry);
    settled.then(() => {
      entry.count--;
      if (entry.count === 0 && this.#tails.get(key) === entry) this.#tails.delete(key);
    });
    return result;
  }
}
