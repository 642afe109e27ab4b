/**
 * One turn of the license server's event loop, run as a whole: the frames read during the turn
 * are queued here, and once the turn's reads are in (a `setImmediate`, which runs after the
 * event loop's I/O phase) they are handled in this order:
 *
 * 1. heartbeats, every one, before any other work: a burst of logins never delays the answer to
 *    a client's heartbeat;
 * 2. the other frames and connection ends, in the order they were read;
 * 3. `commit` (the audit rows of the turn, one transaction: audit_log.ts);
 * 4. the writes: every connection that has frames queued writes them in one socket write.
 *
 * Work queued while a turn runs (a grant answered from the queue, say) joins the same turn.
 *
 * @example
 * ```ts
 * import { LicenseTurn } from "./license_turn.ts";
 * const turn = new LicenseTurn({ commit: () => {}, onError: (error) => console.error(error) });
 * turn.work(() => console.log("second"));
 * turn.beat(() => console.log("first"));
 * ```
 * @module
 */

/** Options of {@linkcode LicenseTurn}. */
export interface LicenseTurnOptions {
  /** Runs after the work of a turn and before its writes. */
  commit(): void;
  /** A queued function threw; the turn goes on with the next one. */
  onError(error: unknown): void;
}

/** Counters of the turns so far, for the log. */
export interface TurnStats {
  /** Turns run. */
  turns: number;
  /** The longest turn, ms. */
  longestMs: number;
  /** The most frames and ends one turn handled. */
  mostWork: number;
}

/** Queues the work of a turn and runs it in order; see the module text. */
export class LicenseTurn {
  #options: LicenseTurnOptions;
  #beats: Array<() => void> = [];
  #work: Array<() => void> = [];
  #flushes: Array<() => void> = [];
  #scheduled = false;
  #running = false;
  #stats: TurnStats = { turns: 0, longestMs: 0, mostWork: 0 };

  /** A turn runner that runs nothing until work is queued. */
  constructor(options: LicenseTurnOptions) {
    this.#options = options;
  }

  /** A copy of the counters. */
  get stats(): TurnStats {
    return { ...this.#stats };
  }

  /** Queues a heartbeat's handling: it runs before any other work of the turn. */
  beat(fn: () => void): void {
    this.#beats.push(fn);
    this.#schedule();
  }

  /** Queues other work (a request, a connection's end). */
  work(fn: () => void): void {
    this.#work.push(fn);
    this.#schedule();
  }

  /** Queues a connection's write, run after the turn's commit (a `FramedLink` `schedule`). */
  flush(fn: () => void): void {
    this.#flushes.push(fn);
    this.#schedule();
  }

  /** Runs what is queued now (the server's close: what is queued is answered first). */
  runNow(): void {
    this.#run();
  }

  #schedule(): void {
    // Work queued while a turn runs joins that turn.
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    setImmediate(() => this.#run());
  }

  #run(): void {
    this.#scheduled = false;
    this.#running = true;
    try {
      this.#runQueued();
    } finally {
      this.#running = false;
    }
    if (this.#beats.length + this.#work.length + this.#flushes.length > 0) this.#schedule();
  }

  #runQueued(): void {
    const start = performance.now();
    let done = 0;
    while (this.#beats.length > 0 || this.#work.length > 0) {
      done += this.#drain(this.#beats);
      // One batch of other work at a time, so that heartbeats read meanwhile go first again.
      done += this.#drain(this.#work);
    }
    try {
      this.#options.commit();
    } catch (error) {
      this.#options.onError(error);
    }
    done += this.#drain(this.#flushes);
    if (done === 0) return;
    const ms = performance.now() - start;
    this.#stats.turns++;
    this.#stats.longestMs = Math.max(this.#stats.longestMs, ms);
    this.#stats.mostWork = Math.max(this.#stats.mostWork, done);
  }

  #drain(queue: Array<() => void>): number {
    const batch = queue.splice(0);
    for (const fn of batch) {
      try {
        fn();
      } catch (error) {
        this.#options.onError(error);
      }
    }
    return batch.length;
  }
}
