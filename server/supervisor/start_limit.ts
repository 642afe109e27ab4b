/**
 * The start limit: how many failed starts of one child, within a window, the supervisor takes
 * before it gives up (like systemd's `StartLimitBurst=` and `StartLimitIntervalSec=`). A child
 * that cannot start (its port taken, its data unreadable) would otherwise be restarted forever,
 * with nobody told; giving up ends the supervisor non-zero with the reason, so that whatever runs
 * it (systemd, a shell, a person) sees the failure.
 *
 * @example
 * ```ts
 * import { StartLimit } from "./start_limit.ts";
 * const limit = new StartLimit({ burst: 2, intervalMs: 60_000 });
 * limit.record(0); // false: one failed start
 * limit.record(1000); // true: two within a minute, give up
 * ```
 * @module
 */

/** Options of {@linkcode StartLimit}. */
export interface StartLimitOptions {
  /** Failed starts within `intervalMs` that make the supervisor give up; at least 1. */
  burst: number;
  /** The window, in ms; 0 never gives up. */
  intervalMs: number;
}

/** The defaults: 5 failed starts within 60 s. */
export const DEFAULT_START_LIMIT: Readonly<StartLimitOptions> = { burst: 5, intervalMs: 60_000 };

/** The help lines of the start-limit flags. */
export const START_LIMIT_HELP =
  `  --start-limit-burst N       give up, and exit 1 with the reason, after N failed starts of one
                              child (an exit within 10 s of its start, or before it was up)
                              within the interval (${DEFAULT_START_LIMIT.burst})
  --start-limit-interval-s N  that interval, in seconds; 0 never gives up (${
    DEFAULT_START_LIMIT.intervalMs / 1000
  })`;

/** Counts one child's failed starts in a sliding window. */
export class StartLimit {
  #options: StartLimitOptions;
  #failures: number[] = [];

  /** Throws a `RangeError` on a burst below 1 or a negative interval. */
  constructor(options: StartLimitOptions = DEFAULT_START_LIMIT) {
    if (!Number.isSafeInteger(options.burst) || options.burst < 1) {
      throw new RangeError(`'burst' must be a positive integer: received ${options.burst}`);
    }
    if (!Number.isFinite(options.intervalMs) || options.intervalMs < 0) {
      throw new RangeError(
        `'intervalMs' must be a non-negative number: received ${options.intervalMs}`,
      );
    }
    this.#options = { ...options };
  }

  /** The limit's settings. */
  get options(): Readonly<StartLimitOptions> {
    return this.#options;
  }

  /** Failed starts within the window, as of the last {@linkcode record}. */
  get count(): number {
    return this.#failures.length;
  }

  /** Records a failed start at `now`; true when the limit is reached and it is time to give up. */
  record(now: number = Date.now()): boolean {
    const { burst, intervalMs } = this.#options;
    this.#failures.push(now);
    while (this.#failures.length > 0 && this.#failures[0] <= now - intervalMs) {
      this.#failures.shift();
    }
    if (this.#failures.length > burst) this.#failures.shift();
    return intervalMs > 0 && this.#failures.length >= burst;
  }
}

/**
 * Reads `--start-limit-burst` and `--start-limit-interval-s` (as `parseArgs` strings); throws a
 * `TypeError` naming the flag.
 */
export function parseStartLimit(
  values: { burst?: string; intervalS?: string },
): StartLimitOptions {
  const burst = values.burst === undefined ? DEFAULT_START_LIMIT.burst : Number(values.burst);
  if (!/^\d+$/.test(values.burst ?? "1") || !Number.isSafeInteger(burst) || burst < 1) {
    throw new TypeError(
      `Flag --start-limit-burst must be a positive integer, not ${JSON.stringify(values.burst)}`,
    );
  }
  const seconds = values.intervalS === undefined
    ? DEFAULT_START_LIMIT.intervalMs / 1000
    : Number(values.intervalS);
  if (!/^\d+$/.test(values.intervalS ?? "0") || !Number.isSafeInteger(seconds)) {
    throw new TypeError(
      `Flag --start-limit-interval-s must be a non-negative integer, not ${
        JSON.stringify(values.intervalS)
      }`,
    );
  }
  return { burst, intervalMs: seconds * 1000 };
}
