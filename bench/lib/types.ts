/**
 * What a scenario is and what it reports. A scenario is one module exporting a
 * {@linkcode Scenario}; bench/scenarios/mod.ts lists them, and adding a row of the table
 * (accounts store, durable sign-ups, license seats…) is adding one module to that list.
 *
 * @module
 */

/** Latency percentiles in milliseconds. */
export interface Percentiles {
  p50: number;
  p99: number;
}

/** A target of the table, reported as met or missed (never asserted). */
export type Target =
  /** ours / baseline must be at least `value` (throughput). */
  | { kind: "ratio-at-least"; value: number }
  /** ours / baseline must be at most `value` (memory). */
  | { kind: "ratio-at-most"; value: number }
  /** ours must be at most `value` in the row's unit (latency). */
  | { kind: "at-most"; value: number };

/** One line of the final table. */
export interface Row {
  /** What was measured, e.g. `routed ws 100 conns vs Socket.IO`. */
  scenario: string;
  /** Unit of `ours` and `baseline`, e.g. `req/s`, `B/conn`, `deliveries/s`, `ms`. */
  unit: string;
  ours: number;
  /** The baseline's name and value, when the row compares. */
  baselineName?: string;
  baseline?: number;
  /** ours / baseline. */
  ratio?: number;
  /**
   * True when the baseline failed to start (twice, bench/lib/baseline.ts): the row has ours
   * alone, its baseline cell says "baseline failed to start", and its target is not judged.
   */
  baselineFailed?: boolean;
  oursLatency?: Percentiles;
  baselineLatency?: Percentiles;
  target?: Target;
  /** Whether the target was met; absent when the row has no target. */
  met?: boolean;
  /**
   * True when a round the row's numbers come from was disturbed (other programs used more than
   * 0.25 CPU cores during it) because no undisturbed round was left: read that row with care.
   */
  disturbed?: boolean;
}

/** One run of a load generator (or one memory reading) with everything it printed. */
export interface Measurement {
  /** e.g. `routed/ours-ws/100`. */
  name: string;
  /** What the load generator printed as its RESULT, or the memory figures. */
  result: Record<string, unknown>;
  /** CPU cores used during the measured window, by process (gate, echo, server, load). */
  cpuCores?: Record<string, number>;
}

/** What a scenario returns. */
export interface ScenarioResult {
  rows: Row[];
  measurements: Measurement[];
}

/** What the harness gives a scenario. */
export interface BenchContext {
  /** `--quick`: a short run for CI. */
  quick: boolean;
  /** Seconds of warmup (not counted) and of measurement per load run. */
  warmupS: number;
  durationS: number;
  /**
   * How many times each load run is repeated, ours and baselines alternating; the table shows
   * the median round, so that a burst of other work on the machine does not decide a ratio.
   */
  rounds: number;
  /** Prints a progress line `[bench] step N <scenario>: <message>`. */
  step(message: string): void;
  /** Prints an indented detail line under the current step. */
  detail(message: string): void;
  /** Adds a note to the table's notes (each distinct text once). */
  note(text: string): void;
  /** A temporary folder removed when the run ends. */
  tempDir(): Promise<string>;
  /**
   * Reports a baseline that failed to start twice (printed loudly, listed at the end and in the
   * JSON); the scenario goes on with our rows and the exit code is not changed by it.
   */
  baselineFailed(label: string, error: string): void;
  /**
   * `--before COMMIT`: that commit's tree, extracted, whose gate the routed and idle scenarios
   * run beside ours (e.g. the gate on Deno's own WebSocket before issue 14).
   */
  before?: { commit: string; rootDir: string };
}

/** A benchmark scenario: one row group of the table. */
export interface Scenario {
  /** Short name used by `--only`. */
  name: string;
  /** One line saying what it measures. */
  description: string;
  run(context: BenchContext): Promise<ScenarioResult>;
}

/** Fills `ratio` and `met` of a row from its numbers and target. */
export function judge(row: Row): Row {
  if (row.baseline !== undefined && row.baseline > 0) {
    row.ratio = row.ours / row.baseline;
  }
  const target = row.target;
  if (!target || (row.baselineFailed && target.kind !== "at-most")) return row;
  if (target.kind === "at-most") row.met = row.ours <= target.value;
  else if (row.ratio === undefined) row.met = false;
  else if (target.kind === "ratio-at-least") {
    row.met = row.ratio >= target.value;
  } else row.met = row.ratio <= target.value;
  return row;
}

/** A target in words, e.g. `≥ 1.0×` or `≤ 10 ms`. */
export function targetText(target: Target | undefined, unit: string): string {
  if (!target) return "";
  if (target.kind === "ratio-at-least") return `≥ ${target.value.toFixed(1)}×`;
  if (target.kind === "ratio-at-most") return `≤ ${target.value.toFixed(1)}×`;
  return `≤ ${target.value} ${unit}`;
}
