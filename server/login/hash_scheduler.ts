/**
 * Shares the password hasher's slots fairly between sources (client addresses), so that one
 * source flooding logins cannot keep another waiting.
 *
 * The policy (defaults in {@linkcode DEFAULT_HASH_SHARE}):
 * - At most `concurrency` hashes run at once, and at most `perSourceRunning` of them (half the
 *   slots, at least 1) for one source: while one source floods, a slot stays free for the others.
 * - Each hash comes with its source's {@linkcode Standing} (the caller says which, or gives a
 *   function asked again when the hash is picked): `trusted` (the login service: a login
 *   succeeded from it lately), `new` or `suspect` (3 failed logins or more on record). With 2 slots or more, the last free slot is never given to a suspect
 *   source: however many suspect sources flood, another one starts at once.
 * - Each source has a budget, a token bucket of `budgetPerSecond` hashes per second (1) up to
 *   `budgetBurst` (10), charged with each hash's cost when it is admitted (the hasher charges 1
 *   for a hash at the `owasp` cost, others by their memory × time next to it). A source
 *   whose budget is spent is refused at once with {@linkcode HasherBusyError} and the time after
 *   which it may try again.
 * - All suspect sources together share one more budget, `suspectPerSecond` (0.1) up to
 *   `suspectBurst` (1): however many addresses flood with failing logins, their hashes take a
 *   small share of the hasher, and a hash running beside a legitimate one (on a small machine,
 *   scrypt runs about as fast two at a time as one after the other) is rare.
 * - At most `perSourceQueue` hashes of one source wait, and `maxQueue` in all; more are refused.
 * - When a slot frees, trusted sources go first, then new ones, then suspect ones, and among
 *   equals the source with the most budget left (the one that hashed least lately), ties in
 *   arrival order.
 * - A hash that could not start within `maxWaitMs` is refused rather than run late.
 * - At most `maxSources` budgets are kept, the least recently charged forgotten first (theirs
 *   has refilled the most; a full budget is the same as none).
 *
 * @example
 * ```ts
 * const scheduler = new HashScheduler({ concurrency: 2 });
 * const key = await scheduler.run("203.0.113.9", () => derive(), { standing: "new" });
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
  /** Hashes (of cost 1) a source earns per second. */
  budgetPerSecond: number;
  /** Most hashes a source may have saved up. */
  budgetBurst: number;
  /** Hashes (of cost 1) all suspect sources together earn per second. */
  suspectPerSecond: number;
  /** Most hashes all suspect sources together may have saved up. */
  suspectBurst: number;
  /** Sources whose budget is remembered at most. */
  maxSources: number;
}

/** The policy described in the module text (`concurrency` is set by the hasher). */
export const DEFAULT_HASH_SHARE: Readonly<Omit<HashShare, "concurrency">> = Object.freeze({
  maxQueue: 1024,
  perSourceQueue: 256,
  maxWaitMs: 8000,
  budgetPerSecond: 1,
  budgetBurst: 10,
  suspectPerSecond: 0.1,
  suspectBurst: 1,
  maxSources: 100_000,
});

/** How far a source is trusted, from its logins: it orders the waiting hashes. */
export type Standing = "trusted" | "new" | "suspect";

const RANK: Record<Standing, number> = { trusted: 2, new: 1, suspect: 0 };

interface Waiter {
  source: string;
  standing: () => Standing;
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
  #suspects: Budget;

  constructor(
    options: Partial<HashShare> & { concurrency: number; now?: () => number },
  ) {
    const share = { ...DEFAULT_HASH_SHARE, ...options };
    this.#share = {
      ...share,
      perSourceRunning: share.perSourceRunning ?? Math.max(1, Math.floor(share.concurrency / 2)),
    };
    this.#now = options.now ?? (() => performance.now());
    this.#suspects = { tokens: this.#share.suspectBurst, at: this.#now() };
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

  /** The budget left to `source`, in hashes of cost 1. */
  budgetOf(source: string): number {
    return this.#budget(source).tokens;
  }

  /**
   * Runs `work` for `source` in its turn; rejects with {@linkcode HasherBusyError} when the
   * source's budget is spent, too many wait, or no slot frees within `maxWaitMs`.
   */
  async run<T>(
    source: string,
    work: () => Promise<T>,
    options: {
      standing?: Standing | (() => Standing);
      cost?: number;
      onStart?: () => void;
    } = {},
  ): Promise<T> {
    const given = options.standing ?? "new";
    const standing = typeof given === "function" ? given : () => given;
    const cost = options.cost ?? 1;
    const s = this.#share;
    const budget = this.#budget(source);
    if (budget.tokens < cost) {
      const retryAfterMs = Math.ceil((cost - budget.tokens) * 1000 / s.budgetPerSecond);
      throw new HasherBusyError(
        "Too many password checks from your address",
        retryAfterMs,
      );
    }
    if (standing() === "suspect") {
      // All suspect sources together share one small budget.
      const shared = this.#refill(this.#suspects, {
        perSecond: s.suspectPerSecond,
        burst: s.suspectBurst,
      });
      if (shared.tokens < cost) {
        throw new HasherBusyError(
          "Too many password checks from addresses with failed logins",
          Math.ceil((cost - shared.tokens) * 1000 / s.suspectPerSecond),
        );
      }
      shared.tokens -= cost;
    }
    this.#charge(source, cost);
    if (!this.#mayStart(source, standing())) {
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
        const waiter = { source, standing, since: this.#now(), start, refuse };
        if (queue) queue.push(waiter);
        else this.#waiting.set(source, [waiter]);
        this.#waitingCount++;
      });
    } else {
      this.#take(source);
    }
    try {
      options.onStart?.();
      return await work();
    } finally {
      this.#release(source);
      this.#next();
    }
  }

  /** Whether a hash of `source` may take a slot now; the last one never when it is suspect. */
  #mayStart(source: string, standing: Standing): boolean {
    const s = this.#share;
    if (this.#running >= s.concurrency || this.#runningOf(source) >= s.perSourceRunning) {
      return false;
    }
    return standing !== "suspect" || s.concurrency < 2 || this.#running < s.concurrency - 1;
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

  /** Starts waiters while slots are free: by standing, then the most budget first. */
  #next(): void {
    const now = this.#now();
    while (this.#running < this.#share.concurrency && this.#waitingCount > 0) {
      let best: string | undefined;
      let bestRank = -Infinity;
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
        // Asked again now: a source that failed since it lined up is suspect now.
        const standing = queue[0].standing();
        if (!this.#mayStart(source, standing)) continue;
        const rank = this.#budget(source).tokens + RANK[standing] * 1e12;
        if (rank > bestRank) {
          best = source;
          bestRank = rank;
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
    if (!budget) return { tokens: s.budgetBurst, at: now };
    return this.#refill(budget, { perSecond: s.budgetPerSecond, burst: s.budgetBurst });
  }

  /** Refills a bucket to now. */
  #refill(budget: Budget, rate: { perSecond: number; burst: number }): Budget {
    const now = this.#now();
    budget.tokens = Math.min(rate.burst, budget.tokens + (now - budget.at) * rate.perSecond / 1000);
    budget.at = now;
    return budget;
  }

  #charge(source: string, cost: number): void {
    const budget = this.#budget(source);
    budget.tokens -= cost;
    // Re-insert so that the map's order is the order of last use, oldest first.
    this.#budgets.delete(source);
    this.#budgets.set(source, budget);
    while (this.#budgets.size > this.#share.maxSources) {
      this.#budgets.delete(this.#budgets.keys().next().value!);
    }
  }
}
