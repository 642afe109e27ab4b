/**
 * When is a license client's silence its own? The sweep of the license server asks this module
 * each quarter interval. It keeps:
 *
 * - a clock that stops while the server itself is late: each sweep's delay past its interval is
 *   taken out, so a stall of the whole process costs no client its seat;
 * - how late the server reads sockets whose data has arrived: its own loopback probe
 *   (read_probe.ts, no cap) and the round trips of its pings (read_lateness.ts, capped at 3
 *   intervals); the larger is added to the 3 silent intervals.
 *
 * @example
 * ```ts ignore
 * import { SilenceClock } from "./silence_clock.ts";
 * const silence = new SilenceClock({ heartbeatMs: 5000, log });
 * await silence.open();
 * const sweep = silence.sweep(); // { clock, silenceMs, busy }
 * silence.close();
 * ```
 * @module
 */

import type { Logger } from "../log.ts";
import { ReadLateness } from "./read_lateness.ts";
import { ReadProbe } from "./read_probe.ts";

/** What one sweep is to go by. */
export interface Sweep {
  /** Now on the clock that stops while the server is late (compare with `receivedAt`). */
  clock: number;
  /** A client silent this long on that clock is silent by its own doing. */
  silenceMs: number;
  /** The sweep ran more than half an interval late: it drops nobody. */
  busy: boolean;
}

/** Options of {@linkcode SilenceClock}. */
export interface SilenceClockOptions {
  heartbeatMs: number;
  log: Logger;
  /** Extra fields for the `server-late` line (the turn's counters). */
  context?: () => Record<string, unknown>;
}

/** The silence bookkeeping of the license server's sweep; see the module text. */
export class SilenceClock {
  #options: SilenceClockOptions;
  #lastSweep = performance.now();
  #stalledMs = 0;
  #pings: ReadLateness;
  #probeLateness: ReadLateness;
  #probe: ReadProbe | undefined;

  /** A clock with no probe until {@linkcode SilenceClock.open}. */
  constructor(options: SilenceClockOptions) {
    this.#options = options;
    this.#pings = new ReadLateness(options.heartbeatMs);
    this.#probeLateness = new ReadLateness(options.heartbeatMs, { capMs: Infinity });
  }

  /** Milliseconds between two sweeps: a quarter of the heartbeat interval. */
  get sweepMs(): number {
    return Math.max(5, Math.floor(this.#options.heartbeatMs / 4));
  }

  /** Opens the loopback probe; sweeps are timed from now. */
  async open(): Promise<void> {
    this.#probe = await ReadProbe.open();
    this.#lastSweep = performance.now();
  }

  /** Closes the probe. */
  close(): void {
    this.#probe?.close();
  }

  /** Wall time less the time the sweeps ran late: the clock silence is counted on. */
  now(): number {
    return Date.now() - this.#stalledMs;
  }

  /** A ping's round trip, ms. */
  notePing(ms: number): void {
    this.#pings.note(ms);
  }

  /** Called by each sweep: how late it runs, how late reads are, and what counts as silence. */
  sweep(): Sweep {
    const { heartbeatMs, log } = this.#options;
    const wall = Date.now();
    const at = performance.now();
    const lateMs = at - this.#lastSweep - this.sweepMs;
    this.#lastSweep = at;
    if (lateMs > 0) this.#stalledMs += lateMs;
    const busy = lateMs > heartbeatMs / 2;
    if (busy) {
      log.warn("server late", { lateMs: Math.round(lateMs), ...this.#options.context?.() });
    }
    // The probe's byte in flight counts for how long it has waited so far.
    this.#probeLateness.note(this.#probe?.lateMs(wall) ?? 0);
    const probe = this.#probeLateness.tick(wall);
    const pings = this.#pings.tick(wall);
    if (probe.crossed || pings.crossed) {
      log.warn("reads late", { probeMs: probe.ms, roundTripMs: pings.ms, heartbeatMs });
    }
    this.#probe?.ping();
    return { clock: this.now(), silenceMs: 3 * heartbeatMs + Math.max(probe.ms, pings.ms), busy };
  }
}
