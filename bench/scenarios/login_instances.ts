/**
 * Login instances (issue 16): registrations per second through one gate with two login instances
 * against one, each login process on a core of its own (`taskset -c`, when the machine has it and
 * at least two cores: the one instance on core 0, the two on cores 0 and 1), sharing one
 * login.sqlite. Sign-ups are bound by password hashing (README, "Durable sign-ups": ~2.5 ms a
 * hash at the test cost), which a process does on its own threads: a second instance on its own
 * core is what scaling out the login service buys. Closed loop: 50 framed-TCP clients
 * (bench/load/tcp_load.ts `--mode register`); login `--hash-cost test`, linked over tcp://; gate
 * `--rate 1000000 --burst 1000000`, not pinned (nor the load), so on a 2-core machine the gate and
 * the load share the cores the logins are pinned to. Rounds alternate the two. No target: the
 * ratio is reported.
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
/** Login instances of each variant. */
const VARIANTS = [1, 2];

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
  options: { instances: number; pin: boolean },
): Promise<LoadReport> {
  const gate = await startOurs(context, { echo: false, gateFlags: UNLIMITED_RATE });
  const logins: Tool[] = [];
  const forget = track(() => logins.forEach((login) => login.stop()));
  let report: LoadReport;
  try {
    // One after the other: the first creates login.sqlite, the next ones open it.
    for (let index = 0; index < options.instances; index++) {
      logins.push(await startLogin({ ...gate, index, pin: options.pin }));
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
    `${options.instances} login instance${options.instances > 1 ? "s" : ""}: ` +
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
        } Sign-ups are bound by password hashing, done on each process's own threads.`,
    );
    const measurements: Measurement[] = [];
    const rounds = new Map<number, LoadReport[]>(VARIANTS.map((n) => [n, []]));
    for (let round = 1; round <= context.rounds; round++) {
      const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
      const order = round % 2 === 1 ? VARIANTS : [...VARIANTS].reverse();
      for (const instances of order) {
        context.step(
          `${of}${instances} login instance${instances > 1 ? "s" : ""}, ${CONNECTIONS} clients ` +
            `(${context.warmupS} s warmup + ${context.durationS} s)`,
        );
        const report = await measure(context, { instances, pin });
        rounds.get(instances)!.push(report);
        measurements.push({
          name: `logins/${instances}/${CONNECTIONS}/round${round}`,
          result: { ...report.result },
          cpuCores: report.cpuCores,
        });
      }
    }
    const two = medianReport(rounds.get(2)!);
    const one = medianReport(rounds.get(1)!);
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
      ],
      measurements,
    };
  },
};
