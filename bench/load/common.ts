/**
 * What the Deno load generators share: the request payload, a latency recorder with
 * percentiles, the warmup → measure → done phases, and the lines they print for `bench/main.ts`.
 *
 * A load generator writes to stdout only lines that `bench/main.ts` reads:
 * `PHASE <name>` when a phase begins, `READY <json>` (idle mode) and `RESULT <json>` at the end.
 * Anything else goes to stderr.
 *
 * @module
 */

/** The `data` every request carries, the same for ours and the baselines. */
export const PAYLOAD = {
  text: "gatehouse bench payload 0123456789",
  n: 42,
} as const;

/** Latencies in milliseconds, kept in a growable Float64Array. */
export class Latencies {
  #values = new Float64Array(1 << 16);
  #count = 0;

  /** Records one latency. */
  add(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  /** How many were recorded. */
  get count(): number {
    return this.#count;
  }

  /** p50, p90, p99, max and mean, rounded to microseconds; zeros when nothing was recorded. */
  summary(): LatencySummary {
    const n = this.#count;
    if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    const sorted = this.#values.slice(0, n).sort();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i];
    const at = (q: number) => round3(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]);
    return {
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: round3(sorted[n - 1]),
      mean: round3(sum / n),
    };
  }
}

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Rounds to three decimals. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Writes one protocol line to stdout. */
export function emit(kind: "PHASE" | "READY" | "RESULT", value: unknown): void {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  console.log(`${kind} ${text}`);
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `open(i)` for i in 0…count−1 with at most `concurrency` at once, so that the server's
 * accept backlog is not flooded. Rejects with the first failure.
 */
export async function openInBatches<T>(
  count: number,
  concurrency: number,
  open: (i: number) => Promise<T>,
): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await open(i);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, worker),
  );
  return out;
}

/** The phases of a timed run, and whether results count now. */
export class Phases {
  /** True while the measured window is open. */
  measuring = false;
  /** True until the measured window closes; senders stop when it turns false. */
  running = true;
  /** performance.now() at the start and end of the measured window. */
  start = 0;
  end = 0;

  /** Warmup (not counted), then the measured window; resolves when it closes. */
  async run(
    warmupS: number,
    durationS: number,
    onMeasure: () => void,
  ): Promise<void> {
    emit("PHASE", "warmup");
    await sleep(warmupS * 1000);
    onMeasure();
    this.start = performance.now();
    this.measuring = true;
    emit("PHASE", "measure");
    await sleep(durationS * 1000);
    this.measuring = false;
    this.running = false;
    this.end = performance.now();
    emit("PHASE", "done");
  }

  /** Length of the measured window in seconds. */
  get seconds(): number {
    return (this.end - this.start) / 1000;
  }
}

/** Parses a positive number flag. */
export function numberFlag(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new TypeError(
      `Flag --${name} must be a positive number, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Waits for SIGTERM or SIGINT (idle mode holds its connections until then). */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    Deno.addSignalListener("SIGTERM", () => resolve());
    Deno.addSignalListener("SIGINT", () => resolve());
  });
}
