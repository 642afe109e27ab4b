/**
 * The license scenario's seat-keeping rows (issue 18): raw framed-TCP clients from one load
 * process (bench/load/license_hold.ts), holders heartbeating while churners log in and out, on
 * our license server and, with `--before COMMIT`, on that commit's server in the same run.
 *
 * @module
 */

import { cpuText, type LoadReport, runLoad } from "../lib/load.ts";
import { ROOT_DIR, sleep, spawnTool } from "../lib/proc.ts";
import type { BenchContext } from "../lib/types.ts";

/** A license server started for one measurement. */
export interface HoldServer {
  port: number;
  pid: number;
  /** The server's log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts `deno task license` from `rootDir` (ours, or the `--before` tree) on a fresh data dir
 * with the license in `licenseFiles`; its log goes to a file (a pipe would cost the harness CPU).
 */
export async function startHoldServer(
  context: BenchContext,
  options: { rootDir: string; licenseFiles: string; heartbeatMs: number; maxConnections?: number },
): Promise<HoldServer> {
  const dataDir = await context.tempDir();
  for (const name of ["license.json", "license.pub"]) {
    await Deno.copyFile(`${options.licenseFiles}/${name}`, `${dataDir}/${name}`);
  }
  const logFile = `${dataDir}/license.log`;
  const json = JSON.parse(await Deno.readTextFile(`${options.rootDir}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const args = [
    ...json.tasks.license.trim().split(/\s+/).slice(1),
    "--port",
    "0",
    "--data-dir",
    dataDir,
    "--heartbeat-ms",
    String(options.heartbeatMs),
    ...(options.maxConnections ? ["--max-connections", String(options.maxConnections)] : []),
  ];
  // `exec` keeps the pid: the shell becomes the server, in its own tree's folder.
  const tool = spawnTool(
    "sh",
    [
      "-c",
      'cd "$1" && shift && exec "$@" >"$0" 2>&1',
      logFile,
      options.rootDir,
      Deno.execPath(),
      ...args,
    ],
    { name: "license" },
  );
  let exited = false;
  tool.status.then(() => exited = true);
  const log = () => Deno.readTextFile(logFile).catch(() => "");
  let port = 0;
  const deadline = Date.now() + 30_000;
  while (!port) {
    const text = await log();
    const match = text.match(/license listening tcp=tcp:\/\/\S+:(\d+)/);
    if (match) port = Number(match[1]);
    else if (exited || Date.now() > deadline) {
      await tool.stop();
      throw new Error(`The license server did not start:\n${text}`);
    } else await sleep(50);
  }
  return { port, pid: tool.pid, log, stop: () => tool.stop() };
}

/** Server CPU per churn cycle, µs (all of the server's CPU, holders' heartbeats included). */
export function microsPerCycle(report: LoadReport, cyclesPerS: number): number {
  const server = report.cpuCores.server ?? 0;
  return cyclesPerS > 0 ? Math.round((server / cyclesPerS) * 1e6) : 0;
}

/** What one hold run gives. */
export interface HoldReading {
  report: LoadReport;
  holders: number;
  churners: number;
  /** Holders the server dropped. */
  dropped: number;
  /** Churners the server dropped. */
  churnersDropped: number;
  /** Churn cycles per second. */
  cyclesPerS: number;
  /** The holders' heartbeat round trips, ms. */
  heartbeat: { p50: number; p99: number; max: number };
  /** The server's `reads-late` and `server-late` log lines. */
  lateLines: string[];
}

/** Runs `holders` + `churners` against a fresh server from `rootDir`. */
export async function measureHold(
  context: BenchContext,
  options: {
    rootDir: string;
    licenseFiles: string;
    heartbeatMs: number;
    holders: number;
    churners: number;
    label: string;
  },
): Promise<HoldReading> {
  const server = await startHoldServer(context, {
    ...options,
    // The before server has no --max-connections (its cap is 1,024): only ours gets one.
    maxConnections: options.rootDir === ROOT_DIR
      ? options.holders + options.churners + 100
      : undefined,
  });
  try {
    const report = await runLoad(
      "license",
      [
        "--port",
        String(server.port),
        "--mode",
        "hold",
        "--holders",
        String(options.holders),
        "--churners",
        String(options.churners),
        "--heartbeat-ms",
        String(options.heartbeatMs),
        "--warmup",
        String(context.warmupS),
        "--duration",
        String(context.durationS),
      ],
      { server: server.pid },
      (context.warmupS + context.durationS) * 1000 + 180_000,
    );
    const r = report.result as LoadReport["result"] & {
      dropped: number;
      churnersDropped: number;
      firstDrop?: string;
      heartbeatMs: { p50: number; p99: number; max: number };
    };
    const lateLines = (await server.log()).split("\n").filter((line) =>
      / (reads-late|server-late) /.test(line)
    );
    context.detail(
      `${options.label}: ${options.holders} holders, ${options.churners} churners, heartbeat ` +
        `${options.heartbeatMs} ms: ${r.throughput.toLocaleString("en-US")} cycles/s (p50 ` +
        `${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms); dropped ${r.dropped} holders, ` +
        `${r.churnersDropped} churners; holders' heartbeat round trip p50 ${r.heartbeatMs.p50} ms, ` +
        `p99 ${r.heartbeatMs.p99} ms, max ${r.heartbeatMs.max} ms; errors ${r.errors}; ` +
        `server late-read lines ${lateLines.length}; server CPU ${
          microsPerCycle(report, r.throughput)
        } µs per cycle; cpu cores: ${cpuText(report.cpuCores)}`,
    );
    if (r.firstDrop) context.detail(`first drop: ${r.firstDrop}`);
    if (r.errors > 0) context.detail(`first error: ${r.firstError}`);
    return {
      report,
      holders: options.holders,
      churners: options.churners,
      dropped: r.dropped,
      churnersDropped: r.churnersDropped,
      cyclesPerS: r.throughput,
      heartbeat: r.heartbeatMs,
      lateLines,
    };
  } finally {
    await server.stop();
  }
}
