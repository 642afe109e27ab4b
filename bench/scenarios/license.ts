/**
 * License seats: the LAN license server (`deno task license`, a license for 1,100 seats made by
 * the real keygen and issue tasks) under N `LicenseClient`s in one load process
 * (bench/load/license_load.ts), N = 1,000 (`--quick` 200):
 *
 * - cycles: each client repeats login → heartbeat → logout, closed loop, with the server on a
 *   short heartbeat (1,000 ms); cycles per second and the latency of a cycle.
 * - idle: every client logged in and heartbeating at the default 5,000 ms; the server's CPU use
 *   over a 10 s window (`--quick` 5 s), as % of one core, read from /proc.
 *
 * Issue 18 adds rows from raw framed-TCP clients (license_hold.ts, bench/load/license_hold.ts):
 *
 * - cycles on raw clients: 1,000 churners (`--quick` 200), heartbeat 1,000 ms; with
 *   `--before COMMIT`, that commit's server in the same run, alternating, the median of
 *   `--rounds`; target ≥ 3× the before server.
 * - seats kept: 1,000 holders heartbeating every 1,000 ms, and 10,000 holders at the default
 *   5,000 ms (`--quick` 200 and 2,000), each while 1,000 churners (`--quick` 200) log in and
 *   out; the holders the server dropped, target 0.
 *
 * @module
 */

import { cpuText, disturbed, type LoadReport, medianReport, runLoad } from "../lib/load.ts";
import { machineCpuSeconds, sleep, threadCpuSeconds } from "../lib/proc.ts";
import { ROOT_DIR } from "../lib/proc.ts";
import { makeLicenseFiles, startLicensePeer } from "../lib/services.ts";
import { type HoldReading, measureHold, microsPerCycle } from "./license_hold.ts";
import { spawnGenerator } from "../lib/load.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

const FULL_CLIENTS = 1000;
const QUICK_CLIENTS = 200;
/** Seats in the license: more than the clients, so that no login is refused. */
const SEATS = 1100;
/** Seats for the seat-keeping rows: holders and churners. */
const HOLD_SEATS = 11_500;
/** Churners, holders at 1 s and holders at 5 s, full and quick. */
const HOLD_SIZES = {
  full: { churners: 1000, fast: 1000, slow: 10_000 },
  quick: { churners: 200, fast: 200, slow: 2000 },
};
/** The heartbeat of the cycle test (short) and of the idle test (the default). */
const CYCLE_HEARTBEAT_MS = 1000;
const IDLE_HEARTBEAT_MS = 5000;
/** The idle window, full and quick, seconds. */
const FULL_IDLE_S = 10;
const QUICK_IDLE_S = 5;

async function measureCycles(
  context: BenchContext,
  licenseFiles: string,
  clients: number,
): Promise<LoadReport> {
  const server = await startLicensePeer(context, {
    licenseFiles,
    heartbeatMs: CYCLE_HEARTBEAT_MS,
  });
  try {
    const report = await runLoad(
      "license",
      [
        "--port",
        String(server.port),
        "--mode",
        "cycle",
        "--connections",
        String(clients),
        "--warmup",
        String(context.warmupS),
        "--duration",
        String(context.durationS),
      ],
      // The harness reads the server's log lines (two per cycle): count its CPU apart.
      { ...server.pids, harness: Deno.pid },
      (context.warmupS + context.durationS) * 1000 + 120_000,
    );
    const r = report.result;
    context.detail(
      `${r.throughput.toLocaleString("en-US")} cycles/s (${clients} clients connected in ` +
        `${r.openMs} ms), p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ` +
        `${r.errors}, lost ${r.lost}; cpu cores: ${cpuText(report.cpuCores)}`,
    );
    if (r.errors > 0 || (r.lost ?? 0) > 0) context.detail(`warning: ${r.firstError}`);
    return report;
  } finally {
    await server.stop();
  }
}

interface IdleReading {
  clients: number;
  seatsUsed: number;
  windowS: number;
  /** Server CPU as % of one core over the window. */
  serverPercent: number;
  /** Server CPU per heartbeat exchange (both directions count), µs. */
  microsPerHeartbeat: number;
  cpuCores: Record<string, number>;
}

async function measureIdle(
  context: BenchContext,
  licenseFiles: string,
  clients: number,
  windowS: number,
): Promise<IdleReading> {
  const server = await startLicensePeer(context, { licenseFiles, heartbeatMs: IDLE_HEARTBEAT_MS });
  const load = spawnGenerator("license", [
    "--port",
    String(server.port),
    "--mode",
    "idle",
    "--connections",
    String(clients),
  ]);
  try {
    const [, json] = await load.waitForLine(/^READY (.*)$/, 120_000);
    const ready = JSON.parse(json) as { licensed: number; openMs: number; firstError?: string };
    if (ready.licensed !== clients) {
      throw new Error(`${ready.licensed} of ${clients} clients got a seat: ${ready.firstError}`);
    }
    const status = await server.status();
    // Let the logins' work settle and the heartbeat timers spread over an interval.
    await sleep(IDLE_HEARTBEAT_MS);
    const pids = { server: server.pids.server, load: load.pid, harness: Deno.pid };
    const before = { wall: performance.now(), machine: machineCpuSeconds(), cpu: usage(pids) };
    await sleep(windowS * 1000);
    const after = { wall: performance.now(), machine: machineCpuSeconds(), cpu: usage(pids) };
    const wall = (after.wall - before.wall) / 1000;
    const cpuCores: Record<string, number> = {};
    let ours = 0;
    for (const role of Object.keys(pids) as Array<keyof typeof pids>) {
      // Threads that ended in the window drop out of the sum: never below zero.
      const used = Math.max(0, after.cpu[role] - before.cpu[role]);
      ours += used;
      cpuCores[role] = Math.round((used / wall) * 1000) / 1000;
    }
    const other = Math.max(0, after.machine.tasks - before.machine.tasks - ours);
    cpuCores.other = Math.round((other / wall) * 100) / 100;
    const serverSeconds = after.cpu.server - before.cpu.server;
    // Each client and the server each send a HeartbeatReq per interval, answered by the other.
    const exchanges = 2 * clients * (wall * 1000 / IDLE_HEARTBEAT_MS);
    return {
      clients,
      seatsUsed: status.seatsUsed,
      windowS: Math.round(wall * 10) / 10,
      serverPercent: (serverSeconds / wall) * 100,
      microsPerHeartbeat: (serverSeconds / exchanges) * 1e6,
      cpuCores,
    };
  } finally {
    await load.stop();
    await server.stop();
  }
}

function usage<K extends string>(pids: Record<K, number>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const role of Object.keys(pids) as K[]) out[role] = threadCpuSeconds(pids[role]);
  return out;
}

/** The license-seats scenario. */
export const license: Scenario = {
  name: "license",
  description: "license seats: login/heartbeat/logout cycles per second; CPU of idle clients",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const clients = context.quick ? QUICK_CLIENTS : FULL_CLIENTS;
    const idleS = context.quick ? QUICK_IDLE_S : FULL_IDLE_S;
    context.note(
      `license: the license server (deno task license, a ${SEATS}-seat license made by the ` +
        `license:keygen and license:issue tasks, fresh --data-dir per run) and ${clients} ` +
        `LicenseClients (client/license_client.ts) in one Deno load process, one framed-TCP ` +
        `connection each. Cycles: server --heartbeat-ms ${CYCLE_HEARTBEAT_MS}; a cycle is ` +
        `LoginReq → HeartbeatReq → LogoutReq, each awaited, on an open connection; every grant ` +
        `and release is written to the audit table (license.sqlite) and logged (to a file); a ` +
        `client the server drops for 3 missed heartbeats stops, and the row says how many were ` +
        `dropped in its round. Idle: the ` +
        `default ${IDLE_HEARTBEAT_MS} ms heartbeat, every client holding a seat; server CPU from ` +
        `/proc/<pid>/task/*/schedstat over ${idleS} s, as % of one core, after ${
          IDLE_HEARTBEAT_MS / 1000
        } s of settling. No baseline: reported.`,
    );
    const licenseFiles = await makeLicenseFiles(context, SEATS);
    const measurements: Measurement[] = [];
    const reports: LoadReport[] = [];
    for (let round = 1; round <= context.rounds; round++) {
      const of = context.rounds > 1 ? `round ${round}/${context.rounds}: ` : "";
      context.step(
        `${of}${clients} clients, login → heartbeat → logout ` +
          `(${context.warmupS} s warmup + ${context.durationS} s)`,
      );
      const report = await measureCycles(context, licenseFiles, clients);
      reports.push(report);
      measurements.push({
        name: `license/cycles/${clients}/round${round}`,
        result: { ...report.result },
        cpuCores: report.cpuCores,
      });
    }
    const cycles = medianReport(reports);

    context.step(`${clients} idle clients heartbeating every ${IDLE_HEARTBEAT_MS} ms, ${idleS} s`);
    const idle = await measureIdle(context, licenseFiles, clients, idleS);
    context.detail(
      `server ${idle.serverPercent.toFixed(2)} % of a core (${idle.seatsUsed} seats held, ` +
        `${idle.microsPerHeartbeat.toFixed(1)} µs per heartbeat exchange); cpu cores: ` +
        `${cpuText(idle.cpuCores)}`,
    );
    measurements.push({
      name: `license/idle/${clients}`,
      result: { ...idle },
      cpuCores: idle.cpuCores,
    });

    const label = clients.toLocaleString("en-US");
    const hold = await holdRows(context, measurements);
    const rows: Row[] = [
      ...hold,
      judge({
        // Clients the server dropped for 3 missed heartbeats (they stop cycling) are named.
        scenario: `license ${label} clients, login/heartbeat/logout` +
          (cycles.result.lost ? ` (${cycles.result.lost} dropped)` : ""),
        unit: "cycles/s",
        ours: cycles.result.throughput,
        oursLatency: { p50: cycles.result.latencyMs.p50, p99: cycles.result.latencyMs.p99 },
        disturbed: disturbed(cycles),
      }),
      judge({
        scenario: `license ${label} idle clients, server CPU`,
        unit: "% core",
        ours: idle.serverPercent,
        disturbed: (idle.cpuCores.other ?? 0) > 0.25,
      }),
    ];
    return { rows, measurements };
  },
};

/** The issue 18 rows: cycles on raw clients before/after, and seats kept under churn. */
async function holdRows(context: BenchContext, measurements: Measurement[]): Promise<Row[]> {
  const sizes = context.quick ? HOLD_SIZES.quick : HOLD_SIZES.full;
  const before = context.before;
  const n = (value: number) => value.toLocaleString("en-US");
  context.note(
    `license (issue 18): raw framed-TCP clients (bench/load/license_hold.ts, one Deno process, ` +
      `lighter than LicenseClient, so that 10,000 fit), a ${n(HOLD_SEATS)}-seat license, ` +
      `--max-connections set to the clients + 100. A churner repeats LoginReq → HeartbeatReq → ` +
      `LogoutReq, each awaited; a holder logs in once and sends HeartbeatReq every interval (the ` +
      `holders spread over it) and answers the server's. "Dropped" counts connections the ` +
      `server closed (3 silent intervals, or any other reason). ` +
      (before
        ? `The before server is commit ${before.commit} (git archive), run alternately with ours.`
        : `No --before: the before server was not run (the README gives main's numbers).`),
  );
  const licenseFiles = await makeLicenseFiles(context, HOLD_SEATS);
  const roots = [{ name: "ours", rootDir: ROOT_DIR }];
  if (before) roots.push({ name: `before ${before.commit}`, rootDir: before.rootDir });
  const rows: Row[] = [];

  // Cycles per second on raw clients, ours and before alternating.
  const cycles: Record<string, HoldReading[]> = {};
  for (let round = 1; round <= context.rounds; round++) {
    for (const root of round % 2 === 1 ? roots : [...roots].reverse()) {
      context.step(
        `round ${round}/${context.rounds}: ${root.name}, ${sizes.churners} raw churners, ` +
          `heartbeat 1,000 ms`,
      );
      const reading = await measureHold(context, {
        ...root,
        label: root.name,
        licenseFiles,
        heartbeatMs: 1000,
        holders: 0,
        churners: sizes.churners,
      });
      (cycles[root.name] ??= []).push(reading);
      measurements.push({
        name: `license/raw-cycles/${root.name}/${sizes.churners}/round${round}`,
        result: { ...reading.report.result },
        cpuCores: reading.report.cpuCores,
      });
    }
  }
  const median = (readings: HoldReading[]) =>
    [...readings].sort((a, b) => a.cyclesPerS - b.cyclesPerS)[Math.floor(readings.length / 2)];
  const ours = median(cycles.ours);
  const was = before ? median(cycles[roots[1].name]) : undefined;
  const dropText = (r: HoldReading) =>
    r.churnersDropped > 0 ? ` (${r.churnersDropped} dropped)` : "";
  rows.push(judge({
    scenario: `license ${n(sizes.churners)} raw clients, login/heartbeat/logout${dropText(ours)}` +
      (was ? ` vs before${dropText(was)}` : "") +
      ` (server ${microsPerCycle(ours.report, ours.cyclesPerS)}` +
      (was ? ` vs ${microsPerCycle(was.report, was.cyclesPerS)}` : "") + ` µs CPU/cycle)`,
    unit: "cycles/s",
    ours: ours.cyclesPerS,
    oursLatency: { p50: ours.report.result.latencyMs.p50, p99: ours.report.result.latencyMs.p99 },
    ...(was
      ? {
        baselineName: roots[1].name,
        baseline: was.cyclesPerS,
        baselineLatency: {
          p50: was.report.result.latencyMs.p50,
          p99: was.report.result.latencyMs.p99,
        },
        target: { kind: "ratio-at-least" as const, value: 3 },
      }
      : {}),
    disturbed: disturbed(ours.report, ...(was ? [was.report] : [])),
  }));

  // Seats kept while others churn: 1 s heartbeat, then the default 5 s with many holders.
  const holds = [
    // The before server refuses connections past 1,024, so only ours runs these; its drops
    // show in the cycles row (its churners heartbeat correctly too).
    { holders: sizes.fast, heartbeatMs: 1000, roots: roots.slice(0, 1) },
    { holders: sizes.slow, heartbeatMs: 5000, roots: roots.slice(0, 1) },
  ];
  for (const hold of holds) {
    const readings: Record<string, HoldReading> = {};
    for (const root of hold.roots) {
      context.step(
        `${root.name}: ${n(hold.holders)} holders at ${n(hold.heartbeatMs)} ms while ` +
          `${n(sizes.churners)} churn`,
      );
      const reading = await measureHold(context, {
        ...root,
        label: root.name,
        licenseFiles,
        heartbeatMs: hold.heartbeatMs,
        holders: hold.holders,
        churners: sizes.churners,
      });
      readings[root.name] = reading;
      measurements.push({
        name: `license/hold/${root.name}/${hold.holders}@${hold.heartbeatMs}`,
        result: { ...reading.report.result, lateLines: reading.lateLines },
        cpuCores: reading.report.cpuCores,
      });
    }
    const mine = readings.ours;
    const theirs = hold.roots.length > 1 ? readings[hold.roots[1].name] : undefined;
    rows.push(judge({
      scenario: `license ${n(hold.holders)} holders at ${hold.heartbeatMs / 1000} s while ` +
        `${n(sizes.churners)} churn: holders dropped (${n(mine.cyclesPerS)} cycles/s; ` +
        `heartbeat p99 ${Math.round(mine.heartbeat.p99)} ms)`,
      unit: "dropped",
      ours: mine.dropped,
      ...(theirs ? { baselineName: hold.roots[1].name, baseline: theirs.dropped } : {}),
      target: { kind: "at-most", value: 0 },
      disturbed: disturbed(mine.report),
    }));
  }
  return rows;
}
