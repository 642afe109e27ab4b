/**
 * Runs a load generator as its own process and collects what it reports: its RESULT, and the
 * CPU cores each watched process (the servers and the generator itself) used during the measured
 * window, read from /proc between its `PHASE measure` and `PHASE done` lines.
 *
 * @module
 */

import { cpuSeconds, machineCpuSeconds, spawnTool, type Tool } from "./proc.ts";

/**
 * Which generator: Deno WebSocket, Deno framed TCP, Node Socket.IO, Node Pinus (hybridconnector
 * protocol), the accounts store (Deno, no network), the license clients (Deno, framed TCP) or
 * group members (Deno, our GateClient).
 */
export type Generator =
  | "ws"
  | "tcp"
  | "socketio"
  | "pinus"
  | "store"
  | "store-pg"
  | "license"
  | "group";

/** The Deno generators: their file and the permissions they run with. */
const DENO_GENERATORS: Record<
  Exclude<Generator, "socketio" | "pinus">,
  { file: string; allow: string[] }
> = {
  ws: { file: "bench/load/ws_load.ts", allow: ["--allow-net"] },
  tcp: { file: "bench/load/tcp_load.ts", allow: ["--allow-net"] },
  // The stores import the npm `postgres` client, listed in the suite's deno.json (bench/ has a
  // package.json and node_modules of its own, for the Node baselines).
  store: {
    file: "bench/load/store_load.ts",
    allow: ["--config=deno.json", "--allow-read", "--allow-write"],
  },
  "store-pg": {
    file: "bench/load/store_load.ts",
    allow: [
      "--config=deno.json",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env=PG*",
    ],
  },
  license: { file: "bench/load/license_load.ts", allow: ["--allow-net"] },
  group: { file: "bench/load/group_load.ts", allow: ["--allow-net"] },
};

/** What a timed run reports. */
export interface LoadReport {
  result: LoadResult;
  /**
   * Role → CPU cores used in the measured window (1.0 = one core busy); `other` is what other
   * programs used meanwhile, `irq` the interrupt time (loopback networking) charged to no one.
   */
  cpuCores: Record<string, number>;
}

/** The RESULT line of a generator (see bench/load/common.ts). */
export interface LoadResult {
  mode: string;
  connections: number;
  seconds: number;
  throughput: number;
  errors: number;
  closedEarly?: number;
  lost?: number;
  firstError?: string;
  latencyMs: {
    p50: number;
    p90: number;
    p99: number;
    max: number;
    mean: number;
  };
  [key: string]: unknown;
}

/** Spawns a generator with its flags; the command is the same for ours and the baselines. */
export function spawnGenerator(
  generator: Generator,
  flags: string[],
  onLine?: (line: string) => void,
): Tool {
  if (generator === "socketio" || generator === "pinus") {
    return spawnTool("node", [`bench/load/${generator}_load.mjs`, ...flags], {
      name: `${generator}_load`,
      onLine,
    });
  }
  const { file, allow } = DENO_GENERATORS[generator];
  return spawnTool(Deno.execPath(), ["run", ...allow, file, ...flags], {
    name: `${generator}_load`,
    onLine,
  });
}

/** Runs a timed load and resolves with its result and the CPU use of `watch` and itself. */
export async function runLoad(
  generator: Generator,
  flags: string[],
  watch: Record<string, number>,
  timeoutMs: number,
): Promise<LoadReport> {
  const roles = { ...watch };
  type Sample = {
    wall: number;
    machine: { tasks: number; irq: number };
    cpu: Record<string, number>;
  };
  let before: Sample | undefined;
  let after: Sample | undefined;
  const sample = (): Sample => ({
    wall: performance.now(),
    machine: machineCpuSeconds(),
    cpu: Object.fromEntries(Object.entries(roles).map(([role, pid]) => [role, cpuSeconds(pid)])),
  });
  // The lines are handled as they come, so that the samples bracket the window closely.
  const tool = spawnGenerator(generator, flags, (line) => {
    if (line === "PHASE measure") before = sample();
    else if (line === "PHASE done") after = sample();
  });
  roles.load = tool.pid;
  try {
    const [, json] = await tool.waitForLine(/^RESULT (.*)$/, timeoutMs);
    const result = JSON.parse(json) as LoadResult;
    const cpuCores: Record<string, number> = {};
    if (before && after) {
      const wall = (after.wall - before.wall) / 1000;
      let ours = 0;
      for (const role of Object.keys(roles)) {
        const used = after.cpu[role] - before.cpu[role];
        ours += used;
        cpuCores[role] = Math.round((used / wall) * 100) / 100;
      }
      // What other programs used in the window: a high value means the numbers were disturbed.
      const other = Math.max(0, after.machine.tasks - before.machine.tasks - ours);
      cpuCores.other = Math.round((other / wall) * 100) / 100;
      // Interrupt time (loopback networking), charged to no process.
      cpuCores.irq = Math.round(((after.machine.irq - before.machine.irq) / wall) * 100) / 100;
    }
    await tool.status;
    return { result, cpuCores };
  } finally {
    await tool.stop();
  }
}

/**
 * A closed-loop envelope load over WebSocket (`bench/load/ws_load.ts --mode envelope`) on `url`,
 * with `connections` connections, watching the servers' `pids`; the run may take two minutes past
 * its warmup and duration before it is given up.
 */
export function runEnvelopeLoad(options: {
  url: string;
  connections: number;
  warmupS: number;
  durationS: number;
  pids: Record<string, number>;
}): Promise<LoadReport> {
  const { url, connections, warmupS, durationS, pids } = options;
  return runLoad(
    "ws",
    [
      "--url",
      url,
      "--mode",
      "envelope",
      "--connections",
      String(connections),
      "--warmup",
      String(warmupS),
      "--duration",
      String(durationS),
    ],
    pids,
    (warmupS + durationS) * 1000 + 120_000,
  );
}

/** Formats CPU use as `gate 0.95, echo 0.52, load 0.71`. */
export function cpuText(cpuCores: Record<string, number>): string {
  return Object.entries(cpuCores).map(([role, cores]) => `${role} ${cores.toFixed(2)}`).join(", ");
}

/** Rounds in which other programs used more CPU cores than this count as disturbed. */
export const DISTURBED_CORES = 0.25;

/** Whether other programs used more than {@linkcode DISTURBED_CORES} cores in a report's window. */
export function disturbed(...reports: LoadReport[]): boolean {
  return reports.some((r) => (r.cpuCores.other ?? 0) > DISTURBED_CORES);
}

/**
 * The report with the median throughput (the lower middle one for an even count), taken among
 * the undisturbed rounds when there is one (other programs on the machine used at most
 * {@linkcode DISTURBED_CORES} cores in its window), else among all.
 */
export function medianReport(reports: LoadReport[]): LoadReport {
  if (reports.length === 0) throw new Error("No reports to take the median of");
  const calm = reports.filter((r) => (r.cpuCores.other ?? 0) <= DISTURBED_CORES);
  const sorted = [...(calm.length ? calm : reports)].sort((a, b) =>
    a.result.throughput - b.result.throughput
  );
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
