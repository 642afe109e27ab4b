/**
 * Routed request/response: closed-loop `echo` requests from N connections, client → gate → echo
 * service → gate → client, over WebSocket and framed TCP; baselines: Socket.IO's acknowledged
 * `emit` echo (one hop, no service), the raw Deno WebSocket echo server (one hop, the limit), and
 * Pinus (issue 18: a connector and an echo backend over its RPC, the same two hops as ours, driven
 * over WebSocket in its own protocol by bench/load/pinus_load.mjs), with the server CPU per
 * request of ours and of Pinus.
 *
 * Targets (issue 7): ≥ 1.0× Socket.IO at 100 connections; ≥ 0.5× raw echo; p99 ≤ 10 ms at 100
 * connections.
 *
 * @module
 */

import { BaselineStartError, startBaseline } from "../lib/baseline.ts";
import {
  cpuText,
  disturbed,
  type Generator,
  type LoadReport,
  medianReport,
  runLoad,
} from "../lib/load.ts";
import {
  type Peer,
  startOurs,
  startPinus,
  startRawEcho,
  startSocketIo,
  UNLIMITED_RATE,
} from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

/** Connection counts of a full run and of `--quick`. */
const FULL_CONNECTIONS = [100, 1000];
const QUICK_CONNECTIONS = [100];

interface Variant {
  key: string;
  label: string;
  generator: Generator;
  mode: string;
  /** Someone else's server: retried once if it fails to start, then left out (lib/baseline.ts). */
  baseline?: boolean;
  start(context: BenchContext): Promise<Peer & { url: string }>;
}

const VARIANTS: Variant[] = [
  {
    key: "raw",
    label: "raw Deno WebSocket echo",
    generator: "ws",
    mode: "echo",
    baseline: true,
    start: async () => {
      const peer = await startRawEcho();
      return { ...peer, url: peer.wsUrl };
    },
  },
  {
    key: "socketio",
    label: "Socket.IO ack echo",
    generator: "socketio",
    mode: "echo",
    baseline: true,
    start: async (context) => {
      const peer = await startSocketIo(context);
      return { ...peer, url: peer.url };
    },
  },
  {
    key: "pinus",
    label: "Pinus connector + echo backend",
    generator: "pinus",
    mode: "echo",
    baseline: true,
    start: async (context) => {
      const peer = await startPinus(context);
      return { ...peer, url: peer.wsUrl };
    },
  },
  {
    key: "ours-ws",
    label: "ours over WebSocket",
    generator: "ws",
    mode: "envelope",
    start: async (context) => {
      const peer = await startOurs(context, { gateFlags: UNLIMITED_RATE });
      return { ...peer, url: peer.wsUrl };
    },
  },
  {
    key: "ours-tcp",
    label: "ours over framed TCP",
    generator: "tcp",
    mode: "envelope",
    start: async (context) => {
      const peer = await startOurs(context, { gateFlags: UNLIMITED_RATE });
      return { ...peer, url: peer.tcpUrl };
    },
  },
];

/** The variants of a run: with `--before`, that commit's gate over WebSocket too. */
function variantsOf(context: BenchContext): Variant[] {
  const before = context.before;
  if (!before) return VARIANTS;
  return [...VARIANTS, {
    key: "before-ws",
    label: `the gate of ${before.commit} over WebSocket`,
    generator: "ws",
    mode: "envelope",
    start: async (context) => {
      const peer = await startOurs(context, { gateFlags: UNLIMITED_RATE, rootDir: before.rootDir });
      return { ...peer, url: peer.wsUrl };
    },
  }];
}

/** Runs one variant against a fresh peer. */
async function measure(
  context: BenchContext,
  variant: Variant,
  connections: number,
  round: number,
): Promise<LoadReport> {
  const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
  context.step(
    `${of}${variant.label}, ${connections} connections ` +
      `(${context.warmupS} s warmup + ${context.durationS} s)`,
  );
  const start = () => variant.start(context);
  const peer = variant.baseline
    ? await startBaseline(context, { label: variant.label, start })
    : await start();
  try {
    const report = await runLoad(
      variant.generator,
      [
        "--url",
        peer.url,
        "--mode",
        variant.mode,
        "--connections",
        String(connections),
        "--warmup",
        String(context.warmupS),
        "--duration",
        String(context.durationS),
      ],
      peer.pids,
      (context.warmupS + context.durationS) * 1000 + 120_000,
    );
    const r = report.result;
    context.detail(
      `${
        r.throughput.toLocaleString("en-US")
      } req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ` +
        `errors ${r.errors}; cpu cores: ${cpuText(report.cpuCores)}`,
    );
    if (r.errors > 0 || (r.closedEarly ?? 0) > 0) {
      context.detail(
        `warning: ${r.errors} errors, ${r.closedEarly} closed early: ${r.firstError}`,
      );
    }
    return report;
  } finally {
    await peer.stop();
  }
}

/** CPU time of the server processes per request, µs (every watched role but the generator's). */
function serverMicros(report: LoadReport): number {
  let cores = 0;
  for (const [role, value] of Object.entries(report.cpuCores)) {
    if (role !== "load" && role !== "other" && role !== "irq") cores += value;
  }
  return Math.round((cores * 1e6 / Math.max(1, report.result.throughput)) * 10) / 10;
}

function latency(report: LoadReport) {
  return { p50: report.result.latencyMs.p50, p99: report.result.latencyMs.p99 };
}

/** The reports that exist (a baseline that failed to start has none). */
function present(...reports: Array<LoadReport | undefined>): LoadReport[] {
  return reports.filter((r): r is LoadReport => r !== undefined);
}

/** A row's baseline fields: its value and latency, or that it failed to start. */
function against(
  baselineName: string,
  report: LoadReport | undefined,
  value: (report: LoadReport) => number,
): Pick<Row, "baselineName" | "baseline" | "baselineLatency" | "baselineFailed"> {
  if (!report) return { baselineName, baselineFailed: true };
  return { baselineName, baseline: value(report), baselineLatency: latency(report) };
}

/** The routed request/response scenario. */
export const routed: Scenario = {
  name: "routed",
  description: "routed request/response: client → gate → echo service → gate → client",
  async run(context: BenchContext): Promise<ScenarioResult> {
    context.note(
      "routed: the gate runs with --rate 1000000 --burst 1000000 so that its per-client rate " +
        "limiter (default 100/s) does not cap the load; every other gate flag is its default.",
    );
    context.note(
      "routed: ours is two hops over three processes (gate, echo service, load generator); the " +
        "baselines are one hop over two (server, load generator). All share the machine's 2 cores.",
    );
    const rows: Row[] = [];
    const measurements: Measurement[] = [];
    const counts = context.quick ? QUICK_CONNECTIONS : FULL_CONNECTIONS;
    const variants = variantsOf(context);
    for (const connections of counts) {
      const rounds = new Map<string, LoadReport[]>(
        variants.map((v) => [v.key, []]),
      );
      /** Baselines that failed to start (twice): left out of the later rounds. */
      const failed = new Set<string>();
      for (let round = 1; round <= context.rounds; round++) {
        // Alternate the order, so that no variant always runs first or last.
        const order = round % 2 === 1 ? variants : [...variants].reverse();
        for (const variant of order) {
          if (failed.has(variant.key)) continue;
          let report: LoadReport;
          try {
            report = await measure(context, variant, connections, round);
          } catch (error) {
            if (!(error instanceof BaselineStartError)) throw error;
            failed.add(variant.key);
            continue;
          }
          rounds.get(variant.key)!.push(report);
          measurements.push({
            name: `routed/${variant.key}/${connections}/round${round}`,
            result: { ...report.result },
            cpuCores: report.cpuCores,
          });
        }
      }
      const median = (key: string) => medianReport(rounds.get(key)!);
      /** A baseline's median round; undefined when it never started. */
      const baseline = (key: string) =>
        rounds.get(key)!.length ? medianReport(rounds.get(key)!) : undefined;
      const raw = baseline("raw");
      const socketio = baseline("socketio");
      const pinus = baseline("pinus");
      if (context.rounds > 1) {
        context.detail(
          `medians at ${connections} connections: ` +
            variants.map((v) =>
              `${v.key} ${
                baseline(v.key)?.result.throughput.toLocaleString("en-US") ?? "failed to start"
              }`
            )
              .join(", ") +
            " req/s",
        );
      }
      for (const transport of ["ws", "tcp"] as const) {
        const ours = median(`ours-${transport}`);
        const name = `routed ${transport} ${connections} conns`;
        rows.push(judge({
          scenario: `${name} vs Socket.IO`,
          unit: "req/s",
          ours: ours.result.throughput,
          ...against("Socket.IO", socketio, (r) => r.result.throughput),
          oursLatency: latency(ours),
          target: connections === 100 ? { kind: "ratio-at-least", value: 1.0 } : undefined,
          disturbed: disturbed(ours, ...present(socketio)),
        }));
        rows.push(judge({
          scenario: `${name} vs raw echo`,
          unit: "req/s",
          ours: ours.result.throughput,
          ...against("raw echo", raw, (r) => r.result.throughput),
          oursLatency: latency(ours),
          target: { kind: "ratio-at-least", value: 0.5 },
          disturbed: disturbed(ours, ...present(raw)),
        }));
        rows.push(judge({
          scenario: `${name} vs Pinus`,
          unit: "req/s",
          ours: ours.result.throughput,
          ...against("Pinus (ws)", pinus, (r) => r.result.throughput),
          oursLatency: latency(ours),
          disturbed: disturbed(ours, ...present(pinus)),
        }));
        rows.push(judge({
          scenario: `${name} server CPU per request vs Pinus`,
          unit: "µs",
          ours: serverMicros(ours),
          ...against("Pinus (ws)", pinus, serverMicros),
          baselineLatency: undefined,
          disturbed: disturbed(ours, ...present(pinus)),
        }));
        if (transport === "ws" && context.before) {
          const before = median("before-ws");
          rows.push(judge({
            scenario: `${name} vs before (${context.before.commit})`,
            unit: "req/s",
            ours: ours.result.throughput,
            baselineName: "before",
            baseline: before.result.throughput,
            oursLatency: latency(ours),
            baselineLatency: latency(before),
            disturbed: disturbed(ours, before),
          }));
        }
        if (connections === 100) {
          rows.push(judge({
            scenario: `${name} p99`,
            unit: "ms",
            ours: ours.result.latencyMs.p99,
            oursLatency: latency(ours),
            target: { kind: "at-most", value: 10 },
            disturbed: disturbed(ours),
          }));
        }
      }
    }
    return { rows, measurements };
  },
};
