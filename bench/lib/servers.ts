/**
 * Starting the peers of a measurement, each fresh: our gate and echo service (with the commands
 * and permissions of their deno.json tasks, through tests/helpers/process.ts), the raw Deno
 * WebSocket echo server, and the Socket.IO server on Node (installed from npm on first use).
 *
 * @module
 */

import { type RunningProcess, startProcess } from "../../tests/helpers/process.ts";
import { BENCH_DIR, runCommand, spawnTool, track } from "./proc.ts";
import type { BenchContext } from "./types.ts";

/** A started peer: the URLs to load and the pids to watch, by role. */
export interface Peer {
  /** Role → pid, e.g. `{ gate: 1, echo: 2 }` or `{ server: 3 }`. */
  pids: Record<string, number>;
  /** Stops every process of the peer. */
  stop(): Promise<void>;
}

/** Our gate, with an echo service when asked. */
export interface OursPeer extends Peer {
  wsUrl: string;
  tcpUrl: string;
  httpUrl: string;
  /** The gate's --data-dir (its service key; a service started on it reads the key there). */
  dataDir: string;
  /** The gate's open connections, from /healthz. */
  connections(): Promise<number>;
}

/** Flags that keep the gate's per-client rate limiter from capping a load run. */
export const UNLIMITED_RATE = ["--rate", "1000000", "--burst", "1000000"];

/**
 * Starts a gate on free ports with a fresh temporary --data-dir (or the given one: gates of a
 * cluster share theirs, so that they share the service key), and an echo service.
 */
export async function startOurs(
  context: BenchContext,
  options: {
    gateFlags?: string[];
    echo?: boolean;
    /** Start the echo service with `--test-commands` (echo_push and the others, for tests only). */
    echoTestCommands?: boolean;
    serviceTransport?: "ws" | "tcp";
    dataDir?: string;
  } = {},
): Promise<OursPeer> {
  const dataDir = options.dataDir ?? await context.tempDir();
  const gate = await startProcess({
    task: "gate:only",
    args: [
      "--port",
      "0",
      "--tcp-port",
      "0",
      "--data-dir",
      dataDir,
      ...(options.gateFlags ?? []),
    ],
    ready: /gate listening http=(\S+) tcp=(\S+) ws=(\S+)/,
  });
  const [, httpUrl, tcpUrl, wsUrl] = gate.match;
  const started: RunningProcess[] = [gate];
  const forget = [track(() => gate.kill())];
  const pids: Record<string, number> = { gate: gate.child.pid };
  const stop = async () => {
    for (const process of started.reverse()) await process.stop();
    for (const fn of forget) fn();
  };
  if (options.echo ?? true) {
    try {
      const echo = await startProcess({
        task: "echo",
        args: [
          "--gate",
          options.serviceTransport === "tcp" ? tcpUrl : wsUrl,
          "--data-dir",
          dataDir,
          "--name",
          "bench-echo",
          ...(options.echoTestCommands ? ["--test-commands"] : []),
        ],
        ready: /registered gate=/,
      });
      started.push(echo);
      forget.push(track(() => echo.kill()));
      pids.echo = echo.child.pid;
    } catch (error) {
      await stop();
      throw error;
    }
  }
  return {
    wsUrl,
    tcpUrl,
    httpUrl,
    dataDir,
    pids,
    stop,
    async connections() {
      const response = await fetch(`${httpUrl}/healthz`);
      return ((await response.json()) as { connections: number }).connections;
    },
  };
}

/** The raw single-hop Deno WebSocket echo server. */
export interface RawPeer extends Peer {
  wsUrl: string;
  /** Its open WebSockets, from /count. */
  connections(): Promise<number>;
}

/** Starts bench/baselines/raw_ws_echo.ts on a free port. */
export async function startRawEcho(): Promise<RawPeer> {
  const tool = spawnTool(Deno.execPath(), [
    "run",
    "--allow-net",
    "bench/baselines/raw_ws_echo.ts",
    "--port",
    "0",
  ], { name: "raw_ws_echo" });
  let port: string;
  try {
    [, port] = await tool.waitForLine(
      /raw-ws-echo listening port=(\d+)/,
      30_000,
    );
  } catch (error) {
    await tool.stop();
    throw error;
  }
  return {
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    pids: { server: tool.pid },
    stop: () => tool.stop(),
    async connections() {
      const response = await fetch(`http://127.0.0.1:${port}/count`);
      return ((await response.json()) as { connections: number }).connections;
    },
  };
}

/** The Socket.IO server on Node. */
export interface SocketIoPeer extends Peer {
  url: string;
}

/** Starts bench/baselines/socketio_server.mjs on a free port. */
export async function startSocketIo(
  context: BenchContext,
): Promise<SocketIoPeer> {
  await ensureNodeModules(context);
  const tool = spawnTool("node", [
    "bench/baselines/socketio_server.mjs",
    "--port",
    "0",
  ], {
    name: "socketio_server",
  });
  let port: string;
  try {
    [, port] = await tool.waitForLine(/socketio listening port=(\d+)/, 30_000);
  } catch (error) {
    await tool.stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pids: { server: tool.pid },
    stop: () => tool.stop(),
  };
}

let installed = false;

/** Installs bench/package.json's packages (socket.io, socket.io-client) when missing. */
export async function ensureNodeModules(context: BenchContext): Promise<void> {
  if (installed) return;
  const present = ["socket.io", "socket.io-client"].every((name) => {
    try {
      Deno.statSync(`${BENCH_DIR}/node_modules/${name}/package.json`);
      return true;
    } catch {
      return false;
    }
  });
  if (!present) {
    let lock = false;
    try {
      Deno.statSync(`${BENCH_DIR}/package-lock.json`);
      lock = true;
    } catch { /* no lock file */ }
    const verb = lock ? "ci" : "install";
    context.detail(
      `installing the baselines' npm packages: npm ${verb} --prefix bench`,
    );
    const result = await runCommand("npm", [
      verb,
      "--prefix",
      "bench",
      "--no-audit",
      "--no-fund",
    ]);
    if (result.code !== 0) {
      throw new Error(`npm ${verb} --prefix bench failed:\n${result.output}`);
    }
  }
  installed = true;
}

/** Node's version, for the results file. */
export async function nodeVersion(): Promise<string> {
  try {
    return (await runCommand("node", ["--version"])).output.trim();
  } catch {
    return "absent";
  }
}
