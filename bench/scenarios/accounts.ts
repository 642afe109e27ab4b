/**
 * Accounts store: 1,000,000 account inserts, then 1,000,000 lookups by username (`--quick`
 * 50,000 each), through the login service's `AccountStore` (server/login/account_store.ts) on a
 * fresh database, in a process of its own (bench/load/store_load.ts). Hashing is left out: each
 * insert carries a precomputed PHC string. Inserts go through the store's real write path, its
 * group-commit writer, with 1,000 writes in flight; lookups through `accountByName`.
 *
 * Baselines: raw `node:sqlite` on the same rows in the same run (`store_load.ts --raw`: the
 * store's schema and PRAGMAs, every insert in one transaction through one prepared statement,
 * lookups through one prepared SELECT), target ≤ 1.3× (issue 18); and the original C++
 * engine's published figures, 12 s for the inserts and 7 s for the lookups, measured on its own
 * machine, not this one, targets ≤ 3 s and ≤ 2 s (issue 7). Each round runs ours, then raw.
 *
 * @module
 */

import { postgresBinDir, startPostgres } from "../../tests/helpers/postgres.ts";
import { cpuText, type LoadReport, medianReport, runLoad } from "../lib/load.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

const FULL_COUNT = 1_000_000;
const QUICK_COUNT = 50_000;
/** Writes in flight at once. */
const WINDOW = 1000;
/** The store runs are long (~30 s for 1M on 2 cores): at most this many rounds. */
const MAX_ROUNDS = 3;

/** The original engine's published figures for 1,000,000 of each, seconds. */
const ORIGINAL_SECONDS = { inserts: 12, lookups: 7 };
/** Issue 7's targets for 1,000,000 of each, seconds. */
const TARGET_SECONDS = { inserts: 3, lookups: 2 };
/** Issue 18's target: ours at most this many times raw node:sqlite, for both. */
const RAW_RATIO_TARGET = 1.3;
/** Rows through PostgreSQL (a round trip per lookup: far fewer than SQLite's million). */
const PG_COUNT = 50_000;
const PG_QUICK_COUNT = 5_000;

interface StoreResult {
  inserts: {
    seconds: number;
    perSecond: number;
    commits: number;
    largestBatch: number;
    cpuSeconds: number;
  };
  lookups: { seconds: number; perSecond: number; misses: number; cpuSeconds: number };
  dbBytes: number;
}

async function measure(
  context: BenchContext,
  options: { count: number; raw: boolean; pg?: string },
): Promise<LoadReport> {
  const dir = await context.tempDir();
  const args = ["--db", `${dir}/login.sqlite`, "--count", String(options.count)];
  args.push("--window", String(WINDOW));
  if (options.raw) args.push("--raw");
  if (options.pg) args.push("--pg", options.pg);
  // The harness reads nothing from the store process while it runs: watch only the process.
  const report = await runLoad(options.pg ? "store-pg" : "store", args, {}, 600_000);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return report;
}

/** The median of each phase's seconds (wall or CPU) over the rounds. */
function medianSeconds(
  reports: LoadReport[],
  phase: "inserts" | "lookups",
  clock: "seconds" | "cpuSeconds" = "seconds",
): number {
  const sorted = reports.map((r) => (r.result as unknown as StoreResult)[phase][clock])
    .sort((x, y) => x - y);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The accounts-store scenario. */
export const accounts: Scenario = {
  name: "accounts",
  description: "accounts store: inserts and lookups through the login service's AccountStore",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const count = context.quick ? QUICK_COUNT : FULL_COUNT;
    const rounds = Math.min(context.rounds, MAX_ROUNDS);
    const scale = count / FULL_COUNT;
    context.note(
      `accounts: ${count.toLocaleString("en-US")} createAccount calls, then as many ` +
        `accountByName lookups (scattered order), on a new login.sqlite (WAL, synchronous=FULL) ` +
        `in one Deno process (bench/load/store_load.ts); ${WINDOW} writes in flight, committed by ` +
        `the store's group-commit writer (≤ 1000 per transaction); precomputed hash strings, no ` +
        `hashing. Raw node:sqlite runs the same rows in the same order (same schema and ` +
        `PRAGMAs; all inserts in ONE transaction, so one fsync and no per-write isolation; ` +
        `lookups by one prepared SELECT), right after ours in each round. Median of ${rounds} ` +
        `round(s) by insert time. The other baseline is the original ` +
        `engine's PUBLISHED 12 s / 7 s for 1,000,000 on ITS OWN machine (not measured here, ` +
        `different hardware): the ratio compares machines as well as code.` +
        (scale < 1
          ? ` Quick run: baseline and target scaled linearly to ${count.toLocaleString("en-US")}` +
            ` (indicative only).`
          : ""),
    );
    const reports: LoadReport[] = [];
    const rawReports: LoadReport[] = [];
    const measurements: Measurement[] = [];
    for (let round = 1; round <= rounds; round++) {
      const of = rounds > 1 ? `round ${round}/${rounds}: ` : "";
      for (const raw of [false, true]) {
        const what = raw ? "raw node:sqlite (one transaction)" : "AccountStore";
        context.step(`${of}${count.toLocaleString("en-US")} inserts + lookups through ${what}`);
        const report = await measure(context, { count, raw });
        const r = report.result as unknown as StoreResult & LoadReport["result"];
        context.detail(
          `inserts ${r.inserts.seconds} s, cpu ${r.inserts.cpuSeconds} s ` +
            `(${r.inserts.perSecond.toLocaleString("en-US")}/s, ` +
            `${r.inserts.commits} commits, write p50 ${r.latencyMs.p50} ms, p99 ` +
            `${r.latencyMs.p99} ms); lookups ${r.lookups.seconds} s, cpu ${r.lookups.cpuSeconds} s ` +
            `(${r.lookups.perSecond.toLocaleString("en-US")}/s, ${r.lookups.misses} misses); ` +
            `db ${(r.dbBytes / 2 ** 20).toFixed(0)} MiB; cpu cores: ${cpuText(report.cpuCores)}`,
        );
        if (r.errors > 0) context.detail(`warning: ${r.errors} errors: ${r.firstError}`);
        (raw ? rawReports : reports).push(report);
        measurements.push({
          name: `accounts/${raw ? "raw" : "store"}/${count}/round${round}`,
          result: { ...report.result },
          cpuCores: report.cpuCores,
        });
      }
    }
    // medianReport takes the median throughput: inserts per second, i.e. the median insert time.
    const median = medianReport(reports);
    const result = median.result as unknown as StoreResult;
    const lookupSeconds = medianSeconds(reports, "lookups");
    const disturbed = (median.cpuCores.other ?? 0) > 0.25;
    const rawDisturbed = rawReports.every((r) => (r.cpuCores.other ?? 0) > 0.25);
    const label = count.toLocaleString("en-US");
    const rows: Row[] = [
      judge({
        scenario: `accounts store ${label} inserts vs raw node:sqlite`,
        unit: "s",
        ours: result.inserts.seconds,
        baselineName: "raw, one transaction",
        baseline: medianSeconds(rawReports, "inserts"),
        oursLatency: { p50: median.result.latencyMs.p50, p99: median.result.latencyMs.p99 },
        target: { kind: "ratio-at-most", value: RAW_RATIO_TARGET },
        disturbed: disturbed || rawDisturbed,
      }),
      judge({
        scenario: `accounts store ${label} lookups vs raw node:sqlite`,
        unit: "s",
        ours: lookupSeconds,
        baselineName: "raw prepared SELECT",
        baseline: medianSeconds(rawReports, "lookups"),
        target: { kind: "ratio-at-most", value: RAW_RATIO_TARGET },
        disturbed: disturbed || rawDisturbed,
      }),
      // CPU time (user + system of the store process) tells less about fsync waits, but more
      // than wall time when other programs load the machine.
      judge({
        scenario: `accounts store ${label} inserts, CPU time vs raw`,
        unit: "s",
        ours: medianSeconds(reports, "inserts", "cpuSeconds"),
        baselineName: "raw, one transaction",
        baseline: medianSeconds(rawReports, "inserts", "cpuSeconds"),
      }),
      judge({
        scenario: `accounts store ${label} lookups, CPU time vs raw`,
        unit: "s",
        ours: medianSeconds(reports, "lookups", "cpuSeconds"),
        baselineName: "raw prepared SELECT",
        baseline: medianSeconds(rawReports, "lookups", "cpuSeconds"),
      }),
      judge({
        scenario: `accounts store ${label} inserts (group commit)`,
        unit: "s",
        ours: result.inserts.seconds,
        baselineName: "original engine (published)",
        baseline: ORIGINAL_SECONDS.inserts * scale,
        oursLatency: { p50: median.result.latencyMs.p50, p99: median.result.latencyMs.p99 },
        target: { kind: "at-most", value: round2(TARGET_SECONDS.inserts * scale) },
        disturbed,
      }),
      judge({
        scenario: `accounts store ${label} lookups by username`,
        unit: "s",
        ours: lookupSeconds,
        baselineName: "original engine (published)",
        baseline: ORIGINAL_SECONDS.lookups * scale,
        target: { kind: "at-most", value: round2(TARGET_SECONDS.lookups * scale) },
        disturbed,
      }),
    ];
    const pgRows = await postgresRows(context, {
      count: context.quick ? PG_QUICK_COUNT : PG_COUNT,
      sqlite: result,
    });
    if (pgRows) {
      rows.push(...pgRows.rows);
      measurements.push(pgRows.measurement);
    }
    return { rows, measurements };
  },
};

/**
 * The PostgreSQL store on the same kind of rows, when PostgreSQL is installed here (one round, a
 * server of its own in a temporary folder, `fsync` on): inserts per second with the same window,
 * and lookups per second with the window in flight, against the SQLite store's rates of this run.
 */
async function postgresRows(
  context: BenchContext,
  options: { count: number; sqlite: StoreResult },
): Promise<{ rows: Row[]; measurement: Measurement } | undefined> {
  if (!postgresBinDir() || Deno.uid() !== 0) {
    context.note("accounts: PostgreSQL is not installed here (or not root): no PostgreSQL row");
    return undefined;
  }
  const label = options.count.toLocaleString("en-US");
  context.step(`${label} inserts + lookups through PostgresAccountStore`);
  const server = await startPostgres({ fsync: true });
  let report: LoadReport;
  try {
    const url = await server.createDatabase("bench_accounts");
    report = await measure(context, { count: options.count, raw: false, pg: url });
  } finally {
    await server.stop();
  }
  const r = report.result as unknown as StoreResult & LoadReport["result"];
  context.detail(
    `postgres: inserts ${r.inserts.seconds} s (${r.inserts.perSecond.toLocaleString("en-US")}/s, ` +
      `${r.inserts.commits} commits); lookups ${r.lookups.seconds} s ` +
      `(${r.lookups.perSecond.toLocaleString("en-US")}/s, ${r.lookups.misses} misses, ` +
      `${WINDOW} in flight); cpu cores: ${cpuText(report.cpuCores)}`,
  );
  const disturbed = (report.cpuCores.other ?? 0) > 0.25;
  return {
    rows: [
      judge({
        scenario: `accounts store PostgreSQL ${label} inserts`,
        unit: "inserts/s",
        ours: r.inserts.perSecond,
        baselineName: "SQLite store",
        baseline: options.sqlite.inserts.perSecond,
        oursLatency: { p50: r.latencyMs.p50, p99: r.latencyMs.p99 },
        disturbed,
      }),
      judge({
        scenario: `accounts store PostgreSQL ${label} lookups, ${WINDOW} in flight`,
        unit: "lookups/s",
        ours: r.lookups.perSecond,
        baselineName: "SQLite store, one at a time",
        baseline: options.sqlite.lookups.perSecond,
        disturbed,
      }),
    ],
    measurement: {
      name: `accounts/postgres/${options.count}`,
      result: { ...report.result },
      cpuCores: report.cpuCores,
    },
  };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
