/**
 * What the broadcast scenarios (broadcast.ts and group_cluster.ts's crossgate) share: one timed
 * run of a broadcast load generator with its detail lines, the rounds of every variant in
 * alternating order with their measurements, and the latency pair of a row.
 *
 * @example
 * ```ts ignore
 * const { rounds, measurements } = await measureRounds(context, {
 *   scenario: "broadcast",
 *   variants: VARIANTS,
 *   members,
 *   measure: (variant) =>
 *     runBroadcastLoad(context, {
 *       generator: "ws",
 *       flags: ["--url", url, "--connections", String(members)],
 *       watch: pids,
 *       slackMs: 120_000,
 *       noun: "broadcasts",
 *     }),
 * });
 * ```
 * @module
 */

import { cpuText, type Generator, type LoadReport, runLoad } from "./load.ts";
import type { BenchContext, Measurement } from "./types.ts";

/** Options of {@linkcode runBroadcastLoad}. */
export interface BroadcastLoadOptions {
  generator: Generator;
  /** The generator's flags but `--warmup` and `--duration`, which the context gives. */
  flags: string[];
  /** Role → pid of the servers whose CPU use is measured. */
  watch: Record<string, number>;
  /** Time allowed beyond the warmup and the measured window (connecting, logging in). */
  slackMs: number;
  /** What one broadcast is called in the detail lines: `broadcasts`, `messages`. */
  noun: string;
}

/**
 * Runs a broadcast load generator for the context's warmup and duration, and prints its detail
 * line (deliveries/s, broadcasts/s, to-all p50 and p99, CPU cores) and a warning line when there
 * were errors or lost broadcasts.
 */
export async function runBroadcastLoad(
  context: BenchContext,
  options: BroadcastLoadOptions,
): Promise<LoadReport> {
  const report = await runLoad(
    options.generator,
    [
      ...options.flags,
      "--warmup",
      String(context.warmupS),
      "--duration",
      String(context.durationS),
    ],
    options.watch,
    (context.warmupS + context.durationS) * 1000 + options.slackMs,
  );
  const r = report.result;
  context.detail(
    `${r.throughput.toLocaleString("en-US")} deliveries/s ` +
      `(${r.broadcastsPerSecond} ${options.noun}/s), to-all p50 ${r.latencyMs.p50} ms, ` +
      `p99 ${r.latencyMs.p99} ms; cpu cores: ${cpuText(report.cpuCores)}`,
  );
  if (r.errors > 0 || (r.lost ?? 0) > 0) {
    context.detail(
      `warning: ${r.errors} errors, ${r.lost} ${options.noun} lost: ${r.firstError}`,
    );
  }
  return report;
}

/** Options of {@linkcode measureRounds}. */
export interface RoundsOptions<V extends { key: string; label: string }> {
  /** The scenario's name: the first part of each measurement's name. */
  scenario: string;
  variants: V[];
  /** Members of the group, in the step lines and the measurements' names. */
  members: number;
  /** Measures a variant once; `undefined` leaves it out of the later rounds (see baseline.ts). */
  measure(variant: V): Promise<LoadReport | undefined>;
}

/** The reports of every round by variant key, and the measurements for the JSON. */
export interface Rounds {
  rounds: Map<string, LoadReport[]>;
  measurements: Measurement[];
}

/**
 * Measures every variant once per round (`context.rounds`), in the given order in odd rounds and
 * in reverse in even ones, so that no variant always runs first or last.
 */
export async function measureRounds<V extends { key: string; label: string }>(
  context: BenchContext,
  options: RoundsOptions<V>,
): Promise<Rounds> {
  const { scenario, variants, members } = options;
  const measurements: Measurement[] = [];
  const rounds = new Map<string, LoadReport[]>(variants.map((v) => [v.key, []]));
  /** Variants left out of the later rounds. */
  const failed = new Set<string>();
  for (let round = 1; round <= context.rounds; round++) {
    const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
    const order = round % 2 === 1 ? variants : [...variants].reverse();
    for (const variant of order) {
      if (failed.has(variant.key)) continue;
      context.step(`${of}${variant.label}, ${members} members`);
      const report = await options.measure(variant);
      if (!report) {
        failed.add(variant.key);
        continue;
      }
      rounds.get(variant.key)!.push(report);
      measurements.push({
        name: `${scenario}/${variant.key}/${members}/round${round}`,
        result: { ...report.result },
        cpuCores: report.cpuCores,
      });
    }
  }
  return { rounds, measurements };
}

/** A report's to-all latency pair, as a row shows it. */
export function latencyOf(report: LoadReport): { p50: number; p99: number } {
  return { p50: report.result.latencyMs.p50, p99: report.result.latencyMs.p99 };
}
