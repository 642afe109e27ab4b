/**
 * Login instances (issue 16): registrations per second through one gate with two login instances
 * against one, each login process on a core of its own (`taskset -c`, when the machine has it and
 * at least two cores: the one instance on core 0, the two on cores 0 and 1), sharing one
 * login.sqlite. Sign-ups are bound by password hashing (README, "Durable sign-ups": ~2.5 ms a
 * hash at the test cost), which a process does on its own threads: a second instance on its own
 * core is what scaling out the login service buys. Closed loop: 50 framed-TCP clients
 * (bench/load/tcp_load.ts `--mode register`); login `--hash-cost test`, linked over tcp://; gate
 * `--rate 1000000 --burst 1000000`, not pinned (nor the load), so on a 2-core machine the gate and
 * the load share the cores the logins are pinned to. Rounds alternate the variants. No target:
 * the ratio is reported.
 *
 * A third variant, two instances each on a login.sqlite of its own, is no deployment (usernames
 * would not be unique across them): it shows what sharing one SQLite file costs. Each instance's
 * commits take the file's write lock, and a writer that finds it taken waits in SQLite's busy
 * handler, which sleeps on the process's event loop (node:sqlite is synchronous).
 *
 * @module
 */

import { taskArgs } from "../../tests/helpers/process.ts";
import { cpuText, disturbed, type LoadReport, medianReport, runLoad } from "../lib/load.ts";
import { spawnTool, type Tool, track } from "../lib/proc.ts";
import { startOurs, UNLIMITED_RATE } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

/** Closed-loop clients. */
const CONNECTIONS = 50;
interface Variant {
  key: string;
  label: string;
  instances: number;
  /** Each instance on a login.sqlite of its own: not a deployment, it shows the shared file's cost. */
  separate?: boolean;
}

const VARIANTS: Variant[] = [
  { key: "1", label: "1 login instance", instances: 1 },
  { key: "2", label: "2 login instances, one login.sqlite", instances: 2 },
  {
    key: "2-separate",
    label: "2 login instances, a login.sqlite each (diagnostic)",
    instances: 2,
    separate: true,
  },
];

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

/** Starts one login instance on the gate, pinned to `core` when `pin`. */
async function startLogin(
  options: { tcpUrl: string; dataDir: string; index: number; pin: boolean },
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
    "test",
  ];
  const tool = options.pin
    ? spawnTool("taskset", ["-c", String(options.index), ...login], { name: "login" })
    : spawnTool(login[0], login.slice(1), { name: "login" });
  await tool.waitForLine(/registered gate=/, 30_000);
  return tool;
}

async function measure(
  context: BenchContext,
  options: { variant: Variant; pin: boolean },
): Promise<LoadReport> {
  const { instances, separate } = options.variant;
  const gate = await startOurs(context, { echo: false, gateFlags: UNLIMITED_RATE });
  const logins: Tool[] = [];
  const forget = track(() => logins.forEach((login) => login.stop()));
  let report: LoadReport;
  try {
    // One after the other: the first creates login.sqlite, the next ones open it.
    for (let index = 0; index < instances; index++) {
      let dataDir = gate.dataDir;
      if (separate && index > 0) {
        dataDir = await context.tempDir();
        await Deno.copyFile(`${gate.dataDir}/sskey`, `${dataDir}/sskey`);
      }
      logins.push(await startLogin({ ...gate, dataDir, index, pin: options.pin }));
    }
    const pids: Record<string, number> = { ...gate.pids, harness: Deno.pid };
    logins.forEach((login, i) => pids[`login${i + 1}`] = login.pid);
    report = await runLoad(
      "tcp",
      [
        "--url",
        gate.tcpUrl,
        "--mode",
        "register",
        "--connections",
        String(CONNECTIONS),
        "--warmup",
        String(context.warmupS),
        "--duration",
        String(context.durationS),
      ],
      pids,
      (context.warmupS + context.durationS) * 1000 + 120_000,
    );
  } finally {
    for (const login of logins) await login.stop();
    forget();
    await gate.stop();
  }
  const r = report.result;
  context.detail(
    `${options.variant.label}: ` +
      `${r.throughput.toLocaleString("en-US")} registrations/s, p50 ${r.latencyMs.p50} ms, ` +
      `p99 ${r.latencyMs.p99} ms, errors ${r.errors}; cpu cores: ${cpuText(report.cpuCores)}`,
  );
  if (r.errors > 0 || (r.closedEarly ?? 0) > 0) {
    context.detail(`warning: ${r.errors} errors, ${r.closedEarly} closed early: ${r.firstError}`);
  }
  return report;
}

/** The login instances scenario. */
export const loginInstances: Scenario = {
  name: "logins",
  description: "sign-ups/s with two login instances against one, each on its own core",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const pin = await canPin();
    context.note(
      `logins: ${CONNECTIONS} framed-TCP clients, closed loop, each cs_msg_register with a new ` +
        `username, through one gate (--rate 1000000 --burst 1000000) to one or two login ` +
        `instances (--hash-cost test, linked over tcp://, one login.sqlite shared; fresh per ` +
        `run). ${
          pin
            ? "Each login process pinned to a core of its own with taskset -c (one: core 0; " +
              "two: cores 0 and 1); the gate and the load are not pinned and share the machine."
            : "NOT pinned: taskset is missing or the machine has one core, so the instances " +
              "share every core."
        } Sign-ups are bound by password hashing, done on each process's own threads. ` +
        `Diagnostic row: the second instance on a login.sqlite of its own (not a deployment: ` +
        `usernames are then unique per file only), to show what sharing one SQLite file costs ` +
        `(a writer waiting for the file's lock sleeps in SQLite's busy handler, on its event loop).`,
    );
    const measurements: Measurement[] = [];
    const rounds = new Map<string, LoadReport[]>(VARIANTS.map((v) => [v.key, []]));
    for (let round = 1; round <= context.rounds; round++) {
      const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
      const order = round % 2 === 1 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        context.step(
          `${of}${variant.label}, ${CONNECTIONS} clients ` +
            `(${context.warmupS} s warmup + ${context.durationS} s)`,
        );
        const report = await measure(context, { variant, pin });
        rounds.get(variant.key)!.push(report);
        measurements.push({
          name: `logins/${variant.key}/${CONNECTIONS}/round${round}`,
          result: { ...report.result },
          cpuCores: report.cpuCores,
        });
      }
    }
    const one = medianReport(rounds.get("1")!);
    const two = medianReport(rounds.get("2")!);
    const separate = medianReport(rounds.get("2-separate")!);
    const latency = (report: LoadReport) => ({
      p50: report.result.latencyMs.p50,
      p99: report.result.latencyMs.p99,
    });
    return {
      rows: [
        judge({
          scenario: `sign-ups, 2 login instances${pin ? " (a core each)" : ""}, ${CONNECTIONS} ` +
            `clients`,
          unit: "reg/s",
          ours: two.result.throughput,
          baselineName: "1 login instance",
          baseline: one.result.throughput,
          oursLatency: latency(two),
          baselineLatency: latency(one),
          disturbed: disturbed(two, one),
        }),
        judge({
          scenario: `sign-ups, 2 instances, a login.sqlite each (diagnostic)`,
          unit: "reg/s",
          ours: separate.result.throughput,
          baselineName: "1 login instance",
          baseline: one.result.throughput,
          oursLatency: latency(separate),
          baselineLatency: latency(one),
          disturbed: disturbed(separate, one),
        }),
      ],
      measurements,
    };
  },
};
