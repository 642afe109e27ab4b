/**
 * The window of broadcasts in flight that the broadcast load generators share (ws_load.ts's
 * `broadcast` mode, group_load.ts): `size` broadcasts are kept in flight; one is done when the
 * sender's answer came and every one of `members` receivers got it, and the next goes out at once
 * while the run lasts. One that never completes (a lost delivery) is given up after 10 s. Counts
 * deliveries and broadcasts in the measured window, and the latency from send until done.
 *
 * @example
 * ```ts ignore
 * const flight = new BroadcastWindow({ members, size: 4, phases, send: (id) => post(id) });
 * // on the sender's answer: flight.acked(id); on a member's push: flight.received(id)
 * flight.start();
 * await phases.run(warmupS, durationS, () => {});
 * flight.stop();
 * const latencyMs = flight.latencies.summary();
 * emit("RESULT", { mode, ...flight.result(phases.seconds), latencyMs });
 * ```
 * @module
 */

import { Latencies, type Phases, round3 } from "./common.ts";

/** A broadcast on its way. */
interface InFlight {
  sentAt: number;
  got: number;
  acked: boolean;
}

/** Options of {@linkcode BroadcastWindow}. */
export interface BroadcastWindowOptions {
  /** How many receivers each broadcast must reach. */
  members: number;
  /** Broadcasts in flight at once. */
  size: number;
  /** The run's phases: what counts, and whether to send the next. */
  phases: Phases;
  /** Sends broadcast `id` (1, 2, …; the receivers and the answer name it). */
  send(id: number): void;
}

/** The counts of a broadcast run, in the order of the generators' RESULT lines. */
export interface BroadcastCounts {
  seconds: number;
  delivered: number;
  throughput: number;
  broadcasts: number;
  broadcastsPerSecond: number;
  errors: number;
  lost: number;
  firstError?: string;
}

/** Keeps `size` broadcasts in flight and counts them (see the module doc). */
export class BroadcastWindow {
  /** The latencies of the broadcasts done in the measured window. */
  readonly latencies: Latencies = new Latencies();
  #options: BroadcastWindowOptions;
  #inFlight = new Map<number, InFlight>();
  #seq = 0;
  #delivered = 0;
  #broadcasts = 0;
  #errors = 0;
  #lost = 0;
  #firstError?: string;
  #reaper?: ReturnType<typeof setInterval>;

  /** A window that sends nothing until {@linkcode BroadcastWindow.start}. */
  constructor(options: BroadcastWindowOptions) {
    this.#options = options;
  }

  /** Sends the first `size` broadcasts and starts giving up on those older than 10 s. */
  start(): void {
    this.#reaper = setInterval(() => {
      const now = performance.now();
      for (const [id, entry] of this.#inFlight) {
        if (now - entry.sentAt > 10_000) {
          this.#inFlight.delete(id);
          this.#lost++;
          if (this.#options.phases.running) this.#sendNext();
        }
      }
    }, 1000);
    for (let i = 0; i < this.#options.size; i++) this.#sendNext();
  }

  /** Stops giving up on old broadcasts (call once the run is over). */
  stop(): void {
    clearInterval(this.#reaper);
  }

  /** Counts an error; the first one's text (300 characters at most) is kept. */
  fail(text: string): void {
    this.#errors++;
    this.#firstError ??= text.slice(0, 300);
  }

  /** A receiver got broadcast `id`. */
  received(id: number): void {
    if (this.#options.phases.measuring) this.#delivered++;
    const entry = this.#inFlight.get(id);
    if (!entry) return;
    entry.got++;
    this.#maybeDone(id, entry);
  }

  /** The sender's answer to broadcast `id` came (check it, and {@linkcode fail}, before). */
  acked(id: number): void {
    const entry = this.#inFlight.get(id);
    if (!entry) return;
    entry.acked = true;
    this.#maybeDone(id, entry);
  }

  /** The counts over a measured window of `seconds`. */
  result(seconds: number): BroadcastCounts {
    return {
      seconds: round3(seconds),
      delivered: this.#delivered,
      throughput: Math.round(this.#delivered / seconds),
      broadcasts: this.#broadcasts,
      broadcastsPerSecond: round3(this.#broadcasts / seconds),
      errors: this.#errors,
      lost: this.#lost,
      firstError: this.#firstError,
    };
  }

  #sendNext(): void {
    const id = ++this.#seq;
    this.#inFlight.set(id, { sentAt: performance.now(), got: 0, acked: false });
    this.#options.send(id);
  }

  #maybeDone(id: number, entry: InFlight): void {
    if (!entry.acked || entry.got < this.#options.members) return;
    this.#inFlight.delete(id);
    if (this.#options.phases.measuring) {
      this.#broadcasts++;
      this.latencies.add(performance.now() - entry.sentAt);
    }
    if (this.#options.phases.running) this.#sendNext();
  }
}
