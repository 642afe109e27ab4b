/**
 * Login instances (issue 16): sign-ups per second through one gate with one and with two login
 * instances, each login process on a core of its own (`taskset -c`, when the machine has it and
 * at least two cores: the one instance on core 0, the two on cores 0 and 1). Sign-ups are bound
 * by password hashing, which a process does on its own threads: a second instance on its own core
 * is what scaling out the login service buys. Measured at the default hash cost (`owasp`, ~0.4 s
 * of a core per hash: the real ceiling) and at `--hash-cost test` (2.5 ms a hash: the store and
 * the gate show), with the accounts in one shared login.sqlite and, when PostgreSQL is installed,
 * in one PostgreSQL database (`--db`, a server of its own in a temporary folder, fsync on, not
 * pinned).
 *
 * Closed loop over WebSocket (bench/load/ws_load.ts `--mode register --distinct-sources`): each
 * client sends its own `X-Forwarded-For` and the gate runs with `--trust-proxy 127.0.0.1`, so each
 * client has an address, and a hashing budget, of its own (one address for the whole load would
 * be throttled to one owasp hash per second per instance). 50 clients at the test cost, 8 at
 * owasp (a deeper queue would wait past the hasher's 8 s limit). Gate `--rate 1000000 --burst
 * 1000000`, not pinned (nor the load). Rounds alternate the variants. No target: the ratio two/one
 * is reported.
 *
 * A diagnostic row (test cost): two instances each on a login.sqlite of its own, no deployment
 * (usernames would not be unique across them), to show what sharing one SQLite file costs.
 *
 * @module
 */

import { taskArgs } from "../../tests/helpers/process.ts";
import {
  postgresBinDir,
  type PostgresServer,
  startPostgres,
} from "../../tests/helpers/postgres.ts";
import { cpuText, disturbed, type LoadReport, medianReport, runLoad } from "../lib/load.ts";
import { spawnTool, type Tool, track } from "../lib/proc.ts";
import { startOurs, UNLIMITED_RATE } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

type Cost = "owasp" | "test";
type Db = "sqlite" | "postgres";

/** Closed-loop clients per hash cost. */
const CONNECTIONS: Record<Cost, number> = { owasp: 8, test: 50 };

interface Variant {
  key: string;
  label: string;
  cost: Cost;
  db: Db;
  instances: number;
  /** Each instance on a login.sqlite of its own: not a deployment, it shows the shared file's cost. */
  separate?: boolean;
}

/** The stores measured at `cost`: `--quick` (CI) takes the owasp rows on SQLite alone. */
function storesAt(
  cost: Cost,
  options: { withPostgres: boolean; quick: boolean },
): readonly ("sqlite" | "postgres")[] {
  if (!options.withPostgres || (options.quick && cost === "owasp")) return ["sqlite"];
  return ["sqlite", "postgres"];
}

function variants(options: { withPostgres: boolean; quick: boolean }): Variant[] {
  const list: Variant[] = [];
  for (const cost of ["owasp", "test"] as const) {
    for (const db of storesAt(cost, options)) {
      for (const instances of [1, 2]) {
        list.push({
          key: `${cost}/${db}/${instances}`,
          label: `${instances} login instance${instances > 1 ? "s" : ""}, ${
            db === "sqlite" ? "one login.sqlite" : "one PostgreSQL database"
          }, --hash-cost ${cost}`,
          cost,
          db,
          instances,
        });
      }
    }
  }
  // The diagnostic row is left out of `--quick`.
  if (options.quick) return list;
  list.push({
    key: "test/sqlite/2-separate",
    label: "2 login instances, a login.sqlite each (diagnostic), --hash-cost test",
    cost: "test",
    db: "sqlite",
    instances: 2,
    separate: true,
  });
  return list;
}

/** Whether `taskset` runs here and the machine has two cores to give. */
async function canPin(): Promise<boolean> {
  if (navigator.hardwareConcurrency < 2) return false;
  try {
    const { success } = await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output();
    return success;
  } catch {
    return false;
  }
}

/** Starts one login instance on the gate, pinned to core `index` when `pin`. */
async function startLogin(
  options: {
    tcpUrl: string;
    dataDir: string;
    index: number;
    pin: boolean;
    cost: Cost;
    db?: string;
  },
): Promise<Tool> {
  const login = [
    Deno.execPath(),
    ...taskArgs("login"),
    "--gate",
    options.tcpUrl,
    "--data-dir",
    options.dataDir,
    "--name",
    `bench-login-${options.index}`,
    "--hash-cost",
    options.cost,
    ...(options.db ? ["--db", options.db] : []),
  ];
  const tool = options.pin
    ? spawnTool("taskset", ["-c", String(options.index), ...login], { name: "login" })
    : spawnTool(login[0], login.slice(1), { name: "login" });
  await tool.waitForLine(/registered gate=/, 30_000);
  return tool;
}

let databases = 0;

async function measure(
  context: BenchContext,
  options: { variant: Variant; pin: boolean; postgres?: PostgresServer },
): Promise<LoadReport> {
  const { instances, separate, cost } = options.variant;
  const gate = await startOurs(context, {
    echo: false,
    gateFlags: [...UNLIMITED_RATE, "--trust-proxy", "127.0.0.1"],
  });
  const db = options.variant.db === "postgres"
    ? await options.postgres!.createDatabase(`bench_logins_${++databases}`)
    : undefined;
  const logins: Tool[] = [];
  const forget = track(() => logins.forEach((login) => login.stop()));
  const warmupS = cost === "owasp" ? Math.max(2, context.warmupS) : context.warmupS;
  const durationS = cost === "owasp" ? Math.max(8, context.durationS) : context.durationS;
  let report: LoadReport;
  try {
    // One after the other: the first creates the schema, the next ones open it.
    for (let index = 0; index < instances; index++) {
      let dataDir = gate.dataDir;
      if (separate && index > 0) {
        dataDir = await context.tempDir();
        await Deno.copyFile(`${gate.dataDir}/sskey`, `${dataDir}/sskey`);
      }
      logins.push(await startLogin({ ...gate, dataDir, index, pin: options.pin, cost, db }));
    }
    const pids: Record<string, number> = { ...gate.pids, harness: Deno.pid };
    logins.forEach((login, i) => pids[`login${i + 1}`] = login.pid);
    report = await runLoad(
      "ws",
      [
        "--url",
        gate.wsUrl,
        "--mode",
        "register",
        "--distinct-sources",
        "--connections",
        String(CONNECTIONS[cost]),
        "--warmup",
        String(warmupS),
        "--duration",
        String(durationS),
      ],
      pids,
      (warmupS + durationS) * 1000 + 120_000,
    );
  } finally {
    for (const login of logins) await login.stop();
    forget();
    await gate.stop();
  }
  const r = report.result;
  context.detail(
    `${options.variant.label}: ` +
      `${r.throughput.toLocaleString("en-US")} sign-ups/s, p50 ${r.latencyMs.p50} ms, ` +
      `p99 ${r.latencyMs.p99} ms, errors ${r.errors}; ${perLoginCore(report)} sign-ups per ` +
      `second of login CPU; cpu cores: ${cpuText(report.cpuCores)}`,
  );
  if (r.errors > 0 || (r.closedEarly ?? 0) > 0) {
    context.detail(`warning: ${r.errors} errors, ${r.closedEarly} closed early: ${r.firstError}`);
  }
  return report;
}

/**
 * Sign-ups per second of CPU the login processes used: what each instance's core yields, whether
 * or not other programs on the machine took part of that core (they do on a shared 2-core box).
 */
function perLoginCore(report: LoadReport): number {
  let cores = 0;
  for (const [role, used] of Object.entries(report.cpuCores)) {
    if (role.startsWith("login")) cores += used;
  }
  return cores > 0 ? rate(report.result.throughput / cores) : 0;
}

/** Sign-ups per second as the table shows them: two decimals below 10. */
function rate(value: number): number {
  return value < 10 ? Math.round(value * 100) / 100 : Math.round(value);
}

/** The login instances scenario. */
export const loginInstances: Scenario = {
  name: "logins",
  description: "sign-ups/s with one and two login instances, each on its own core",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const pin = await canPin();
    const withPostgres = postgresBinDir() !== undefined && Deno.uid() === 0;
    context.note(
      `logins: closed loop over WebSocket, each cs_msg_register with a new username, each ` +
        `client with an X-Forwarded-For address of its own (gate --trust-proxy 127.0.0.1 ` +
        `--rate 1000000 --burst 1000000), ${CONNECTIONS.owasp} clients at --hash-cost owasp ` +
        `(the default; warmup ≥ 2 s, window ≥ 8 s) and ${CONNECTIONS.test} at --hash-cost test, ` +
        `to one or two login instances linked over tcp://, sharing one login.sqlite${
          withPostgres ? " or one PostgreSQL database (--db; fsync on, not pinned)" : ""
        } (fresh per run). ${
          pin
            ? "Each login process pinned to a core of its own with taskset -c (one: core 0; " +
              "two: cores 0 and 1); the gate and the load are not pinned and share the machine."
            : "NOT pinned: taskset is missing or the machine has one core, so the instances " +
              "share every core."
        }${
          context.quick
            ? " --quick: owasp on SQLite only, no diagnostic row."
            : " Diagnostic row: the second instance on a login.sqlite of its own (not a deployment)."
        }${
          withPostgres ? "" : " PostgreSQL is not installed here (or not root): no PostgreSQL rows."
        }`,
    );
    const quick = context.quick;
    const list = variants({ withPostgres, quick });
    const postgres = withPostgres ? await startPostgres({ fsync: true }) : undefined;
    const measurements: Measurement[] = [];
    const rounds = new Map<string, LoadReport[]>(list.map((v) => [v.key, []]));
    try {
      for (let round = 1; round <= context.rounds; round++) {
        const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
        const order = round % 2 === 1 ? list : [...list].reverse();
        for (const variant of order) {
          context.step(`${of}${variant.label}, ${CONNECTIONS[variant.cost]} clients`);
          const report = await measure(context, { variant, pin, postgres });
          rounds.get(variant.key)!.push(report);
          measurements.push({
            name: `logins/${variant.key}/${CONNECTIONS[variant.cost]}/round${round}`,
            result: { ...report.result },
            cpuCores: report.cpuCores,
          });
        }
      }
    } finally {
      await postgres?.stop();
    }
    const latency = (report: LoadReport) => ({
      p50: report.result.latencyMs.p50,
      p99: report.result.latencyMs.p99,
    });
    const row = (options: { scenario: string; two: string; one: string }): Row => {
      const two = medianReport(rounds.get(options.two)!);
      const one = medianReport(rounds.get(options.one)!);
      return judge({
        scenario: options.scenario,
        unit: "sign-ups/s",
        ours: rate(two.result.throughput),
        baselineName: "1 login instance",
        baseline: rate(one.result.throughput),
        oursLatency: latency(two),
        baselineLatency: latency(one),
        disturbed: disturbed(two, one),
      });
    };
    const rows: Row[] = [];
    const core = pin ? " (a core each)" : " (not pinned)";
    for (const cost of ["owasp", "test"] as const) {
      for (const db of storesAt(cost, { withPostgres, quick })) {
        rows.push(row({
          scenario: `sign-ups, 2 login instances${core}, ${db}, ${cost} hash, ` +
            `${CONNECTIONS[cost]} clients`,
          two: `${cost}/${db}/2`,
          one: `${cost}/${db}/1`,
        }));
      }
    }
    if (!quick) {
      rows.push(row({
        scenario: "sign-ups, 2 instances, a login.sqlite each (diagnostic), test hash",
        two: "test/sqlite/2-separate",
        one: "test/sqlite/1",
      }));
    }
    return { rows, measurements };
  },
};
