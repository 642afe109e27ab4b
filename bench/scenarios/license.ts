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
 * No baseline and no target (issue 7: report).
 *
 * @module
 */

import { cpuText, disturbed, type LoadReport, medianReport, runLoad } from "../lib/load.ts";
import { machineCpuSeconds, sleep, threadCpuSeconds } from "../lib/proc.ts";
import { makeLicenseFiles, startLicensePeer } from "../lib/services.ts";
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
    const rows: Row[] = [
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
