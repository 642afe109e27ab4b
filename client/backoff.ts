/**
 * Exponential backoff with full jitter, for reconnects.
 *
 * @example
 * ```ts
 * const backoff = new Backoff({ minMs: 100, maxMs: 5000 });
 * await new Promise((r) => setTimeout(r, backoff.next()));
 * backoff.reset();
 * ```
 * @module
 */

/** Options of {@linkcode Backoff}. */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/** Delays that double from `minMs` to `maxMs`, each drawn between half and all of its step. */
export class Backoff {
  #min: number;
  #max: number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#min = options.minMs;
    this.#max = options.maxMs;
  }

  /** The next delay in milliseconds. */
  next(): number {
    const step = Math.min(this.#max, this.#min * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return Math.round(step / 2 + Math.random() * step / 2);
  }

  /** Back to the shortest delay, after a connection succeeded. */
  reset(): void {
    this.#attempt = 0;
  }
}
