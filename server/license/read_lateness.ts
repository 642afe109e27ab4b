/**
 * How late the license server reads its sockets, measured by its own pings: the round trip of
 * each `HeartbeatReq` it sends (until the client's `HeartbeatRsp` is read) holds the time that
 * answer waited unread. The slowest round trip of the last 3 heartbeat intervals is added to the
 * silence after which a client is dropped, so that a server too busy to read on time does not
 * blame its clients (bench/FINDINGS.md, finding 7). A round trip counts for at most 3 intervals,
 * so that a client answering late on purpose can at most double the time a dead one is kept.
 *
 * @example
 * ```ts
 * import { ReadLateness } from "./read_lateness.ts";
 * const lateness = new ReadLateness(1000);
 * lateness.note(1500);
 * lateness.tick(Date.now()).ms; // 1500
 * ```
 * @module
 */

/** What {@linkcode ReadLateness.tick} reports. */
export interface LatenessReading {
  /** The slowest ping round trip of the last 3 to 6 heartbeat intervals, ms. */
  ms: number;
  /** Whether it passed one heartbeat interval since the last reading (worth a log line). */
  crossed: boolean;
}

/** A sliding maximum of the server's ping round trips. */
export class ReadLateness {
  #windowMs: number;
  #heartbeatMs: number;
  #capMs: number;
  #current = 0;
  #previous = 0;
  #windowStart = Date.now();
  #wasLate = false;

  /**
   * Windows of 3 intervals of `heartbeatMs`; a sample counts for at most `capMs` (3 intervals
   * unless given: the server's own probe is trusted with no cap).
   */
  constructor(heartbeatMs: number, options: { capMs?: number } = {}) {
    this.#heartbeatMs = heartbeatMs;
    this.#windowMs = 3 * heartbeatMs;
    this.#capMs = options.capMs ?? this.#windowMs;
  }

  /** Notes one round trip, ms (at most the cap counts). */
  note(ms: number): void {
    const capped = Math.min(ms, this.#capMs);
    if (capped > this.#current) this.#current = capped;
  }

  /** The slowest round trip of this window and the one before, at time `now` (ms). */
  tick(now: number): LatenessReading {
    if (now - this.#windowStart >= this.#windowMs) {
      this.#previous = this.#current;
      this.#current = 0;
      this.#windowStart = now;
    }
    const ms = Math.max(this.#current, this.#previous);
    const late = ms > this.#heartbeatMs;
    const crossed = late && !this.#wasLate;
    this.#wasLate = late;
    return { ms, crossed };
  }
}
