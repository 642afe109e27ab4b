/**
 * Cluster: routed `echo` requests entering gate A for the echo service linked to gate B, the two
 * gates joined over a local `nats-server` (`--cluster`), against a single gate with the echo
 * service linked to it, in the same run. Closed loop, 100 WebSocket connections on the gate the
 * load enters (bench/load/ws_load.ts `--mode envelope`); the echo service is linked over tcp://
 * in both (FINDINGS.md findings 1 and 2). Rounds alternate the two.
 *
 * Each start of a variant also runs one connection, one request at a time, whose latency shows
 * the hop alone. No target (issue 7: report, with the cost of the extra hop: the throughput
 * ratio, the latency it adds per request at 1 connection, and the server CPU µs per request).
 * Skipped with a note row when `nats-server` is not on PATH.
 *
 * @module
 */

import { hasNatsServer, startClusterPair, startNatsServer } from "../lib/cluster.ts";
import { cpuText, disturbed, type LoadReport, medianReport, runEnvelopeLoad } from "../lib/load.ts";
import { type Peer, startOurs, UNLIMITED_RATE } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

/** Closed-loop connections: many (throughput), then one (the hop's latency alone). */
const CONNECTIONS = 100;
const CONNECTION_COUNTS = [CONNECTIONS, 1];

interface Variant {
  key: string;
  label: string;
  start(context: BenchContext, natsUrl: string): Promise<Peer & { url: string }>;
}

const VARIANTS: Variant[] = [
  {
    key: "single",
    label: "one gate, echo linked to it",
    start: async (context) => {
      const peer = await startOurs(context, { gateFlags: UNLIMITED_RATE, serviceTransport: "tcp" });
      return { ...peer, url: peer.wsUrl };
    },
  },
  {
    key: "cluster",
    label: "gate A → NATS → gate B → echo",
    start: async (context, natsUrl) => {
      const pair = await startClusterPair(context, { natsUrl });
      return { ...pair, url: pair.a.wsUrl };
    },
  },
];

/** The variants of a run: with `--before`, that commit's two gates and echo too. */
function variantsOf(context: BenchContext): Variant[] {
  const before = context.before;
  if (!before) return VARIANTS;
  return [...VARIANTS, {
    key: "before",
    label: `gate A → NATS → gate B → echo of ${before.commit}`,
    start: async (context, natsUrl) => {
      const pair = await startClusterPair(context, { natsUrl, rootDir: before.rootDir });
      return { ...pair, url: pair.a.wsUrl };
    },
  }];
}

/** Runs the load at each connection count on one fresh start of the variant's peers. */
async function measure(
  context: BenchContext,
  variant: Variant,
  nats: Peer & { url: string },
): Promise<Map<number, LoadReport>> {
  const peer = await variant.start(context, nats.url);
  const reports = new Map<number, LoadReport>();
  try {
    for (const connections of CONNECTION_COUNTS) {
      // nats-server runs in both variants (idle in the single-gate one): watch it in both.
      const report = await runEnvelopeLoad({
        url: peer.url,
        connections,
        warmupS: context.warmupS,
        durationS: context.durationS,
        pids: { ...peer.pids, ...nats.pids },
      });
      const r = report.result;
      context.detail(
        `${connections} conn${connections > 1 ? "s" : ""}: ` +
          `${r.throughput.toLocaleString("en-US")} req/s, p50 ${r.latencyMs.p50} ms, ` +
          `p99 ${r.latencyMs.p99} ms, errors ${r.errors}; cpu cores: ${cpuText(report.cpuCores)}`,
      );
      if (r.errors > 0 || (r.closedEarly ?? 0) > 0) {
        context.detail(
          `warning: ${r.errors} errors, ${r.closedEarly} closed early: ${r.firstError}`,
        );
      }
      reports.set(connections, report);
    }
    return reports;
  } finally {
    await peer.stop();
  }
}

/** CPU µs per request of the servers in a report (everything but the load, other and irq). */
function serverMicros(report: LoadReport): number {
  const cores = Object.entries(report.cpuCores)
    .filter(([role]) => !["load", "other", "irq"].includes(role))
    .reduce((sum, [, value]) => sum + value, 0);
  return report.result.throughput > 0 ? (cores / report.result.throughput) * 1e6 : 0;
}

/** The cluster scenario. */
export const cluster: Scenario = {
  name: "cluster",
  description: "cluster: requests entering gate A for a service on gate B, over NATS",
  async run(context: BenchContext): Promise<ScenarioResult> {
    if (!(await hasNatsServer())) {
      context.step("skipped: nats-server is not on PATH");
      context.note(
        "cluster: SKIPPED, nats-server is not on PATH (apt-get install nats-server); the row " +
          "shows 0.",
      );
      return {
        rows: [{ scenario: "cluster (skipped: no nats-server)", unit: "req/s", ours: 0 }],
        measurements: [],
      };
    }
    context.note(
      `cluster: ${CONNECTIONS} WebSocket clients, closed-loop echo, on gate A; the echo service ` +
        `is linked to gate B over tcp://, the gates joined through one local nats-server ` +
        `(--cluster, a shared --data-dir for the service key); baseline: one gate with the echo ` +
        `service linked to it over tcp://, in the same run, nats-server idle beside it. ` +
        `Each start of a variant runs ${CONNECTIONS} connections, then 1. The extra hop's cost: ` +
        `the throughput ratio at ${CONNECTIONS}; "1 conn, p50 latency" = one request at a time, ` +
        `so the difference is the hop's own latency per request; "server CPU per request" (at ` +
        `${CONNECTIONS}) sums every server process (gates, echo, nats-server) over the requests ` +
        `served, and the difference between its two values is the CPU the hop adds.`,
    );
    const nats = await startNatsServer();
    const measurements: Measurement[] = [];
    const rounds = new Map<string, LoadReport[]>();
    const key = (variant: string, connections: number) => `${variant}/${connections}`;
    try {
      for (let round = 1; round <= context.rounds; round++) {
        const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
        const variants = variantsOf(context);
        const order = round % 2 === 1 ? variants : [...variants].reverse();
        for (const variant of order) {
          context.step(
            `${of}${variant.label}, ${CONNECTION_COUNTS.join(" then ")} connections ` +
              `(${context.warmupS} s warmup + ${context.durationS} s each)`,
          );
          const reports = await measure(context, variant, nats);
          for (const [connections, report] of reports) {
            const k = key(variant.key, connections);
            rounds.set(k, [...(rounds.get(k) ?? []), report]);
            measurements.push({
              name: `cluster/${k}/round${round}`,
              result: { ...report.result },
              cpuCores: report.cpuCores,
            });
          }
        }
      }
    } finally {
      await nats.stop();
    }
    const ours = medianReport(rounds.get(key("cluster", CONNECTIONS))!);
    const single = medianReport(rounds.get(key("single", CONNECTIONS))!);
    const oursOne = medianReport(rounds.get(key("cluster", 1))!);
    const singleOne = medianReport(rounds.get(key("single", 1))!);
    const latency = (report: LoadReport) => ({
      p50: report.result.latencyMs.p50,
      p99: report.result.latencyMs.p99,
    });
    const d = disturbed(ours, single);
    const rows: Row[] = [
      judge({
        scenario: `cluster A→B ${CONNECTIONS} ws conns`,
        unit: "req/s",
        ours: ours.result.throughput,
        baselineName: "single gate",
        baseline: single.result.throughput,
        oursLatency: latency(ours),
        baselineLatency: latency(single),
        disturbed: d,
      }),
      judge({
        scenario: `cluster A→B 1 conn, p50 latency`,
        unit: "ms",
        ours: oursOne.result.latencyMs.p50,
        baselineName: "single gate",
        baseline: singleOne.result.latencyMs.p50,
        oursLatency: latency(oursOne),
        baselineLatency: latency(singleOne),
        disturbed: disturbed(oursOne, singleOne),
      }),
      judge({
        scenario: `cluster extra hop per request, 1 conn (p50)`,
        unit: "µs",
        ours: (oursOne.result.latencyMs.p50 - singleOne.result.latencyMs.p50) * 1000,
        disturbed: disturbed(oursOne, singleOne),
      }),
      judge({
        scenario: `cluster server CPU per request, ${CONNECTIONS} conns`,
        unit: "µs",
        ours: serverMicros(ours),
        baselineName: "single gate",
        baseline: serverMicros(single),
        disturbed: d,
      }),
    ];
    if (context.before) {
      const before = medianReport(rounds.get(key("before", CONNECTIONS))!);
      const b = disturbed(ours, before);
      rows.push(
        judge({
          scenario: `cluster A→B ${CONNECTIONS} ws conns vs before (${context.before.commit})`,
          unit: "req/s",
          ours: ours.result.throughput,
          baselineName: "before",
          baseline: before.result.throughput,
          oursLatency: latency(ours),
          baselineLatency: latency(before),
          disturbed: b,
        }),
        judge({
          scenario: `cluster server CPU per request vs before (${context.before.commit})`,
          unit: "µs",
          ours: serverMicros(ours),
          baselineName: "before",
          baseline: serverMicros(before),
          disturbed: b,
        }),
        judge({
          scenario: `cluster A→B ${CONNECTIONS} ws conns of ${context.before.commit}`,
          unit: "req/s",
          ours: before.result.throughput,
          baselineName: "single gate",
          baseline: single.result.throughput,
          disturbed: disturbed(before, single),
        }),
      );
    }
    return { rows, measurements };
  },
};
