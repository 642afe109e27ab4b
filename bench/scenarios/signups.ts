/**
 * Durable sign-ups: registrations per second through the whole stack — clients → gate → login
 * service → SQLite commit → back — with the login service's group commit (its default,
 * `--max-batch 1000`) against the same service committing once per request (`--max-batch 1`).
 * Closed loop: 50 framed-TCP clients (bench/load/tcp_load.ts `--mode register`), each sending
 * `cs_msg_register` with a new username and waiting for the answer; an OK answer means the
 * account is committed (`synchronous=FULL`). Login with `--hash-cost test`, linked over tcp://;
 * gate with `--rate 1000000 --burst 1000000`. Rounds alternate ours and the baseline.
 *
 * Target (issue 7): ≥ 5× the per-request commits.
 *
 * @module
 */

import { cpuText, disturbed, type LoadReport, medianReport, runLoad } from "../lib/load.ts";
import { startLoginPeer } from "../lib/services.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

/** Closed-loop clients, for a full run and `--quick`. */
const CONNECTIONS = 50;
/** Writes of the store-alone comparison: group commit, and one commit per write. */
const STORE_WRITES = { group: 20_000, perRequest: 1000 };

interface Variant {
  key: string;
  label: string;
  /** Flags of the login service. */
  flags: string[];
}

const VARIANTS: Variant[] = [
  { key: "group", label: "group commit (default --max-batch 1000)", flags: [] },
  {
    key: "per-request",
    label: "one commit per request (--max-batch 1)",
    flags: ["--max-batch", "1"],
  },
];

/** The login service's closing counters, from its `stopped` log line. */
function writerCounters(lines: string[]): { commits: number; writes: number; largest: number } {
  for (const line of lines) {
    const m = line.match(/ stopped commits=(\d+) writes=(\d+) largestBatch=(\d+)/);
    if (m) return { commits: Number(m[1]), writes: Number(m[2]), largest: Number(m[3]) };
  }
  return { commits: 0, writes: 0, largest: 0 };
}

/**
 * The same two commit policies without the network and the hashing: `CONNECTIONS` writers
 * inserting accounts straight through `AccountStore` (bench/load/store_load.ts).
 */
async function measureStore(context: BenchContext, variant: Variant): Promise<LoadReport> {
  const dir = await context.tempDir();
  const perRequest = variant.key === "per-request";
  const report = await runLoad(
    "store",
    [
      "--db",
      `${dir}/login.sqlite`,
      "--count",
      String(perRequest ? STORE_WRITES.perRequest : STORE_WRITES.group),
      "--window",
      String(CONNECTIONS),
      ...(perRequest ? ["--max-batch", "1"] : []),
    ],
    {},
    120_000,
  );
  const r = report.result as LoadReport["result"] & { inserts: { commits: number } };
  context.detail(
    `store alone, ${variant.key}: ${r.throughput.toLocaleString("en-US")} inserts/s ` +
      `(${r.inserts.commits} commits), write p50 ${r.latencyMs.p50} ms; cpu cores: ` +
      cpuText(report.cpuCores),
  );
  return report;
}

async function measure(context: BenchContext, variant: Variant): Promise<LoadReport> {
  const peer = await startLoginPeer(context, variant.flags);
  let report: LoadReport;
  try {
    report = await runLoad(
      "tcp",
      [
        "--url",
        peer.tcpUrl,
        "--mode",
        "register",
        "--connections",
        String(CONNECTIONS),
        "--warmup",
        String(context.warmupS),
        "--duration",
        String(context.durationS),
      ],
      // The harness reads the login service's log line per account: count its CPU apart.
      { ...peer.pids, harness: Deno.pid },
      (context.warmupS + context.durationS) * 1000 + 120_000,
    );
  } finally {
    await peer.stop();
  }
  const r = report.result;
  const writer = writerCounters(peer.loginLines);
  r.writer = writer;
  context.detail(
    `${r.throughput.toLocaleString("en-US")} registrations/s, p50 ${r.latencyMs.p50} ms, ` +
      `p99 ${r.latencyMs.p99} ms, errors ${r.errors}; whole run: ${writer.writes} writes in ` +
      `${writer.commits} commits (${(writer.writes / Math.max(1, writer.commits)).toFixed(1)} ` +
      `per commit, largest ${writer.largest}); cpu cores: ${cpuText(report.cpuCores)}`,
  );
  if (r.errors > 0 || (r.closedEarly ?? 0) > 0) {
    context.detail(`warning: ${r.errors} errors, ${r.closedEarly} closed early: ${r.firstError}`);
  }
  return report;
}

/** The durable sign-ups scenario. */
export const signups: Scenario = {
  name: "signups",
  description: "durable sign-ups: registrations/s through gate and login, group commit vs none",
  async run(context: BenchContext): Promise<ScenarioResult> {
    context.note(
      `signups: ${CONNECTIONS} framed-TCP clients, closed loop, each cs_msg_register with a new ` +
        `username (fresh gate, login service and login.sqlite per run); login --hash-cost test ` +
        `(scrypt N=2^10), linked over tcp://; gate --rate 1000000 --burst 1000000. Baseline: the ` +
        `same service with --max-batch 1, one transaction (one fsync, synchronous=FULL) per ` +
        `request. Both include the group-commit writer's wait for a timer tick before each ` +
        `transaction (see FINDINGS.md). "store alone": the same two policies with ${CONNECTIONS} ` +
        `writers calling AccountStore.createAccount in one process (bench/load/store_load.ts, ` +
        `precomputed hashes, no network): ${STORE_WRITES.group.toLocaleString("en-US")} writes ` +
        `with group commit, ${
          STORE_WRITES.perRequest.toLocaleString("en-US")
        } with --max-batch 1; ` +
        `no target, it shows what the commit policy alone is worth.`,
    );
    const measurements: Measurement[] = [];
    const rounds = new Map<string, LoadReport[]>(VARIANTS.map((v) => [v.key, []]));
    const storeRounds = new Map<string, LoadReport[]>(VARIANTS.map((v) => [v.key, []]));
    for (let round = 1; round <= context.rounds; round++) {
      const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
      const order = round % 2 === 1 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        context.step(
          `${of}${variant.label}, ${CONNECTIONS} clients ` +
            `(${context.warmupS} s warmup + ${context.durationS} s)`,
        );
        const report = await measure(context, variant);
        rounds.get(variant.key)!.push(report);
        measurements.push({
          name: `signups/${variant.key}/${CONNECTIONS}/round${round}`,
          result: { ...report.result },
          cpuCores: report.cpuCores,
        });
      }
      context.step(`${of}the same commit policies on the store alone, ${CONNECTIONS} writers`);
      for (const variant of order) {
        const report = await measureStore(context, variant);
        storeRounds.get(variant.key)!.push(report);
        measurements.push({
          name: `signups/store-${variant.key}/${CONNECTIONS}/round${round}`,
          result: { ...report.result },
          cpuCores: report.cpuCores,
        });
      }
    }
    const ours = medianReport(rounds.get("group")!);
    const baseline = medianReport(rounds.get("per-request")!);
    const latency = (report: LoadReport) => ({
      p50: report.result.latencyMs.p50,
      p99: report.result.latencyMs.p99,
    });
    const storeOurs = medianReport(storeRounds.get("group")!);
    const storeBaseline = medianReport(storeRounds.get("per-request")!);
    return {
      rows: [
        judge({
          scenario: `durable sign-ups, ${CONNECTIONS} clients`,
          unit: "reg/s",
          ours: ours.result.throughput,
          baselineName: "commit per request",
          baseline: baseline.result.throughput,
          oursLatency: latency(ours),
          baselineLatency: latency(baseline),
          target: { kind: "ratio-at-least", value: 5 },
          disturbed: disturbed(ours, baseline),
        }),
        judge({
          scenario: `sign-up commits, store alone, ${CONNECTIONS} writers`,
          unit: "writes/s",
          ours: storeOurs.result.throughput,
          baselineName: "commit per write",
          baseline: storeBaseline.result.throughput,
          oursLatency: latency(storeOurs),
          baselineLatency: latency(storeBaseline),
          disturbed: disturbed(storeOurs, storeBaseline),
        }),
      ],
      measurements,
    };
  },
};
