/**
 * Shares the password hasher's slots fairly between sources (client addresses), so that one
 * source flooding logins cannot keep another waiting.
 *
 * The policy (defaults in {@linkcode DEFAULT_HASH_SHARE}):
 * - At most `concurrency` hashes run at once, and at most `perSourceRunning` of them (half the
 *   slots, at least 1) for one source: while one source floods, a slot stays free for the others.
 * - Each source has a budget of hashing time, a token bucket of `budgetMsPerSecond` ms per second
 *   (one core's worth) up to `budgetBurstMs`, charged with each hash's measured duration. A source
 *   whose budget is spent is refused at once with {@linkcode HasherBusyError} and the time after
 *   which it may try again.
 * - At most `perSourceQueue` hashes of one source wait, and `maxQueue` in all; more are refused.
 * - When a slot frees, the waiting source with the most budget left (the one that hashed least
 *   lately) goes next, ties in arrival order: a legitimate source is served before a flooding one.
 * - A hash that could not start within `maxWaitMs` is refused rather than run late.
 * - At most `maxSources` budgets are kept, the least recently charged forgotten first (theirs
 *   has refilled the most; a full budget is the same as none).
 *
 * @example
 * ```ts
 * const scheduler = new HashScheduler({ concurrency: 2 });
 * const key = await scheduler.run("203.0.113.9", () => derive());
 * ```
 * @module
 */

/** Too many hashes are waiting, or the source spent its budget: answer "busy, try again". */
export class HasherBusyError extends Error {
  /** When the caller may try again, in ms. */
  readonly retryAfterMs: number;

  constructor(reason: string, retryAfterMs = 1000) {
    super(reason);
    this.name = "HasherBusyError";
    this.retryAfterMs = retryAfterMs;
  }
}

/** The numbers of the sharing policy. */
export interface HashShare {
  /** Hashes that run at once. */
  concurrency: number;
  /** Hashes of one source that run at once. Default: half of `concurrency`, at least 1. */
  perSourceRunning?: number;
  /** Hashes that may wait in all. */
  maxQueue: number;
  /** Hashes of one source that may wait. */
  perSourceQueue: number;
  /** Longest wait for a slot. */
  maxWaitMs: number;
  /** Hashing time a source earns per second, in ms. */
  budgetMsPerSecond: number;
  /** Most hashing time a source may have saved up, in ms. */
  budgetBurstMs: number;
  /** Sources whose budget is remembered at most. */
  maxSources: number;
}

/** The policy described in the module text (`concurrency` is set by the hasher). */
export const DEFAULT_HASH_SHARE: Readonly<Omit<HashShare, "concurrency">> = Object.freeze({
  maxQueue: 1024,
  perSourceQueue: 32,
  maxWaitMs: 8000,
  budgetMsPerSecond: 1000,
  budgetBurstMs: 5000,
  maxSources: 100_000,
});

interface Waiter {
  source: string;
  since: number;
  start(): void;
  refuse(error: Error): void;
}

interface Budget {
  tokens: number;
  at: number;
}

/** Runs hashes in a bounded number of slots, shared fairly between sources. */
export class HashScheduler {
  #share: Required<HashShare>;
  #now: () => number;
  #running = 0;
  #runningBy = new Map<string, number>();
  #waiting = new Map<string, Waiter[]>();
  #waitingCount = 0;
  #budgets = new Map<string, Budget>();

  constructor(
    options: Partial<HashShare> & { concurrency: number; now?: () => number },
  ) {
    const share = { ...DEFAULT_HASH_SHARE, ...options };
    this.#share = {
      ...share,
      perSourceRunning: share.perSourceRunning ?? Math.max(1, Math.floor(share.concurrency / 2)),
    };
    this.#now = options.now ?? (() => performance.now());
  }

  /** The policy in force. */
  get share(): Readonly<Required<HashShare>> {
    return this.#share;
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for a slot. */
  get waiting(): number {
    return this.#waitingCount;
  }

  /** Sources whose budget is remembered. */
  get sources(): number {
    return this.#budgets.size;
  }

  /** The budget left to `source`, in ms of hashing. */
  budgetOf(source: string): number {
    return this.#budget(source).tokens;
  }

  /**
   * Runs `work` for `source` in its turn; rejects with {@linkcode HasherBusyError} when the
   * source's budget is spent, too many wait, or no slot frees within `maxWaitMs`.
   */
  async run<T>(source: string, work: () => Promise<T>): Promise<T> {
    const s = this.#share;
    const budget = this.#budget(source);
    if (budget.tokens <= 0) {
      const retryAfterMs = Math.ceil((1 - budget.tokens) * 1000 / s.budgetMsPerSecond);
      throw new HasherBusyError(
        "Too many password checks from your address",
        retryAfterMs,
      );
    }
    if (this.#running >= s.concurrency || this.#runningOf(source) >= s.perSourceRunning) {
      const queue = this.#waiting.get(source);
      if ((queue?.length ?? 0) >= s.perSourceQueue) {
        throw new HasherBusyError(
          `${s.perSourceQueue} password checks from your address are already waiting`,
        );
      }
      if (this.#waitingCount >= s.maxQueue) {
        throw new HasherBusyError(`${s.maxQueue} password checks are already waiting`);
      }
      await new Promise<void>((start, refuse) => {
        const waiter = { source, since: this.#now(), start, refuse };
        if (queue) queue.push(waiter);
        else this.#waiting.set(source, [waiter]);
        this.#waitingCount++;
      });
    } else {
      this.#take(source);
    }
    const started = this.#now();
    try {
      return await work();
    } finally {
      this.#charge(source, this.#now() - started);
      this.#release(source);
      this.#next();
    }
  }

  #runningOf(source: string): number {
    return this.#runningBy.get(source) ?? 0;
  }

  #take(source: string): void {
    this.#running++;
    this.#runningBy.set(source, this.#runningOf(source) + 1);
  }

  #release(source: string): void {
    this.#running--;
    const left = this.#runningOf(source) - 1;
    if (left > 0) this.#runningBy.set(source, left);
    else this.#runningBy.delete(source);
  }

  /** Starts waiters while slots are free: the eligible source with the most budget first. */
  #next(): void {
    const now = this.#now();
    while (this.#running < this.#share.concurrency && this.#waitingCount > 0) {
      let best: string | undefined;
      let bestTokens = -Infinity;
      for (const [source, queue] of this.#waiting) {
        // Drop the heads that waited too long.
        while (queue.length > 0 && now - queue[0].since > this.#share.maxWaitMs) {
          this.#waitingCount--;
          queue.shift()!.refuse(
            new HasherBusyError(`A password check waited more than ${this.#share.maxWaitMs} ms`),
          );
        }
        if (queue.length === 0) {
          this.#waiting.delete(source);
          continue;
        }
        if (this.#runningOf(source) >= this.#share.perSourceRunning) continue;
        const tokens = this.#budget(source).tokens;
        if (tokens > bestTokens) {
          best = source;
          bestTokens = tokens;
        }
      }
      if (best === undefined) return;
      const queue = this.#waiting.get(best)!;
      const waiter = queue.shift()!;
      this.#waitingCount--;
      if (queue.length === 0) this.#waiting.delete(best);
      this.#take(best);
      waiter.start();
    }
  }

  /** The source's budget, refilled to now (not stored when full: a full budget is no record). */
  #budget(source: string): Budget {
    const s = this.#share;
    const now = this.#now();
    const budget = this.#budgets.get(source);
    if (!budget) return { tokens: s.budgetBurstMs, at: now };
    budget.tokens = Math.min(
      s.budgetBurstMs,
      budget.tokens + (now - budget.at) * s.budgetMsPerSecond / 1000,
    );
    budget.at = now;
    return budget;
  }

  #charge(source: string, ms: number): void {
    const budget = this.#budget(source);
    budget.tokens -= ms;
    // Re-insert so that the map's order is the order of last use, oldest first.
    this.#budgets.delete(source);
    this.#budgets.set(source, budget);
    while (this.#budgets.size > this.#share.maxSources) {
      this.#budgets.delete(this.#budgets.keys().next().value!);
    }
  }
}
