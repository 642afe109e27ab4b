/**
 * Starts real gates and services for integration tests, on loopback with free ports.
 *
 * @module
 */

import { GateClient, type GateClientOptions } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import { type RunningProcess, startProcess, tempDataDir } from "./process.ts";

/** A running gate process. */
export interface GateProcess extends RunningProcess {
  httpUrl: string;
  wsUrl: string;
  tcpUrl: string;
  dataDir: string;
  /** The URL a client of `transport` connects to. */
  url(transport: Transport): string;
}

/** The two client transports. */
export type Transport = "ws" | "tcp";

/** Both transports, for tests that run over each. */
export const TRANSPORTS: Transport[] = ["ws", "tcp"];

/** Starts a gate on free ports (or the given ones) with extra flags. */
export async function startGate(
  options: { flags?: string[]; dataDir?: string; port?: number; tcpPort?: number } = {},
): Promise<GateProcess> {
  const dataDir = options.dataDir ?? await tempDataDir();
  const process = await startProcess({
    task: "gate:only",
    args: [
      "--port",
      String(options.port ?? 0),
      "--tcp-port",
      String(options.tcpPort ?? 0),
      "--data-dir",
      dataDir,
      ...(options.flags ?? []),
    ],
    ready: /gate listening http=(\S+) tcp=(\S+) ws=(\S+)/,
  });
  const [, httpUrl, tcpUrl, wsUrl] = process.match;
  return {
    ...process,
    httpUrl,
    wsUrl,
    tcpUrl,
    dataDir,
    url: (transport) => transport === "ws" ? wsUrl : tcpUrl,
  };
}

/** Options of {@linkcode startService} (and of startEcho, startLogin, startGroup). */
export interface StartServiceOptions {
  /** Extra flags. */
  flags?: string[];
  /** The gate URL; the gate's WebSocket URL by default. */
  url?: string;
  /** The instance's name; a random `<task>-…` by default. */
  name?: string;
  /** Its `--data-dir` (where the service key is read); the gate's data dir by default. */
  dataDir?: string;
}

/** Starts a service of ours (a deno.json task) connected to a gate; resolves once registered. */
export function startService(
  task: string,
  gate: { wsUrl: string; dataDir: string },
  options: StartServiceOptions = {},
): Promise<RunningProcess> {
  return startProcess({
    task,
    args: [
      "--gate",
      options.url ?? gate.wsUrl,
      "--data-dir",
      options.dataDir ?? gate.dataDir,
      "--name",
      options.name ?? `${task}-${crypto.randomUUID().slice(0, 8)}`,
      ...(options.flags ?? []),
    ],
    ready: /registered gate=/,
  });
}

/** Starts an echo service connected to a gate; resolves once registered. */
export function startEcho(
  gate: { wsUrl: string; dataDir: string },
  options: StartServiceOptions = {},
): Promise<RunningProcess> {
  return startService("echo", gate, options);
}

/** Connects a GateClient; closed by `using`-style cleanup through the returned `close`. */
export async function connectClient(
  url: string,
  options: Partial<GateClientOptions> = {},
): Promise<GateClient> {
  const client = new GateClient({ url, reconnect: false, ...options });
  await client.connect();
  return client;
}

/** Two free TCP ports on loopback. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Waits until `check` returns true, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Timed out waiting for ${options.what ?? "a condition"}`);
}

/**
 * Waits until a client on `gate` reaches `cmd` (served on this gate or another of its cluster): an
 * answer that is neither `UNDEFINED_CMD` nor `SERVER_OFF`.
 */
export async function waitServed(gate: GateProcess, cmd: string): Promise<void> {
  const probe = new GateClient({ url: gate.wsUrl, reconnect: false });
  await probe.connect();
  try {
    await waitFor(async () => {
      const state = (await probe.request(cmd, {})).state;
      return state !== State.UNDEFINED_CMD && state !== State.SERVER_OFF;
    }, { what: `${cmd} reachable from ${gate.wsUrl}` });
  } finally {
    probe.close();
  }
}

/** Sleeps. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Deno.test options for tests that start processes. */
export const INTEGRATION = { sanitizeOps: false, sanitizeResources: false } as const;
