/**
 * Runs `deno task cluster` (server/supervisor/cluster.ts) in tests: the task's own `deno run`
 * command and permissions, on free ports (four in a row for the two gates, one for NATS, one for
 * the license server), and its stop by SIGINT.
 *
 * @example
 * ```ts ignore
 * const dataDir = await Deno.makeTempDir();
 * const task = await startClusterTask({ dataDir, args: ["--store", "sqlite"] });
 * const client = new GateClient({ url: task.gateB.wsUrl, reconnect: false });
 * // …
 * const status = await interruptClusterTask(task, { killAfterMs: 15_000 });
 * ```
 * @module
 */

import { ROOT_DIR, type RunningProcess, startProcess } from "./process.ts";
import { freePorts } from "./suite.ts";

/** The `deno run …` part of the cluster task (after its build step), so its permissions. */
export function clusterTaskArgs(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${ROOT_DIR}/deno.json`));
  const line = (json.tasks.cluster as string).split("&&").pop()!.trim().split(/\s+/);
  if (line[0] !== "deno") throw new Error(`The cluster task does not end with a deno command`);
  return line.slice(1);
}

/** A base port whose next three ports are free too (the task takes N, N+1, N+2, N+3). */
function fourFreePorts(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768–60999), which other tests' outgoing sockets take from.
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    const listeners: Deno.Listener[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
      }
      return base;
    } catch {
      // taken: try another
    } finally {
      for (const listener of listeners) listener.close();
    }
  }
  throw new Error("No four consecutive free ports found");
}

/** Options of {@linkcode startClusterTask}. */
export interface ClusterTaskOptions {
  /** The task's `--data-dir`. */
  dataDir: string;
  /** More flags after the ports (e.g. `--store sqlite`). */
  args?: string[];
  /** How long to wait for "Gatehouse cluster is up". Default 60 s. */
  timeoutMs?: number;
}

/** The URLs of one of the task's gates. */
export interface ClusterTaskGate {
  /** `http://127.0.0.1:N` (its `/readyz`). */
  httpUrl: string;
  /** `ws://127.0.0.1:N/ws`. */
  wsUrl: string;
}

/** A running cluster task. */
export interface ClusterTask {
  process: RunningProcess;
  gateA: ClusterTaskGate;
  gateB: ClusterTaskGate;
  natsPort: number;
  licensePort: number;
}

/** Starts the cluster task on free ports; resolves once it says it is up. */
export async function startClusterTask(options: ClusterTaskOptions): Promise<ClusterTask> {
  const base = fourFreePorts();
  const [natsPort, licensePort] = freePorts(2);
  const running = await startProcess({
    task: "cluster",
    denoArgs: clusterTaskArgs(),
    args: [
      "--data-dir",
      options.dataDir,
      "--port",
      String(base),
      "--tcp-port",
      String(base + 1),
      "--nats-port",
      String(natsPort),
      "--license-port",
      String(licensePort),
      ...(options.args ?? []),
    ],
    ready: /Gatehouse cluster is up/,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  const gate = (port: number) => ({
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
  });
  return { process: running, gateA: gate(base), gateB: gate(base + 2), natsPort, licensePort };
}

/** Stops the task with SIGINT (SIGKILL after `killAfterMs`); resolves with its exit status. */
export async function interruptClusterTask(
  task: ClusterTask,
  options: { killAfterMs: number },
): Promise<Deno.CommandStatus> {
  task.process.kill("SIGINT");
  const timer = setTimeout(() => task.process.kill("SIGKILL"), options.killAfterMs);
  try {
    return await task.process.status;
  } finally {
    clearTimeout(timer);
  }
}
