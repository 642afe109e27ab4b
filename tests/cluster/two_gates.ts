/**
 * The fixture of the cluster tests: a fresh nats-server (JetStream on), gates A and B joined
 * through it on one data dir (so they share the service key), and cleanup of everything the test
 * started through it — clients closed, services and gates stopped, NATS stopped — whatever the
 * test's outcome.
 *
 * @example
 * ```ts
 * await withTwoGates({ flags: ["--max-inflight", "1"] }, async ({ a, b, track }) => {
 *   const echo = track.service(await startEcho(b));
 *   // …
 * });
 * ```
 * @module
 */

import type { GateClient } from "../../client/mod.ts";
import { type NatsServer, startNats } from "../helpers/nats.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { type GateProcess, startGate } from "../helpers/suite.ts";

/** Flags of a gate joined to `nats` as `id`. */
export function clusterFlags(nats: string, id: string, more: string[] = []): string[] {
  return ["--cluster", nats, "--gate-id", id, ...more];
}

/** Options of {@linkcode withTwoGates}. */
export interface TwoGatesOptions {
  /** More flags for every gate (A, B and those of `startGate`). */
  flags?: string[];
  /** More flags for gate B only. */
  bFlags?: string[];
  /** Only this NATS user may connect (the gates get it through `--cluster-creds`). */
  natsAuth?: { user: string; password: string };
}

/** What a test gets. */
export interface TwoGates {
  nats: NatsServer;
  dataDir: string;
  /** Gate A (`--gate-id a`). */
  a: GateProcess;
  /** Gate B (`--gate-id b`); a test that restarts it sets it here. */
  b: GateProcess;
  /** Starts another gate of the cluster (stopped at the end); `flags` replace the common ones. */
  startGate(id: string, flags?: string[]): Promise<GateProcess>;
  /** The `--cluster-creds` file of the gates, with `natsAuth`. */
  creds?: string;
  /** Registers what the fixture cleans up at the end; each returns what it is given. */
  track: {
    client<T extends GateClient>(client: T): T;
    service<T extends RunningProcess>(service: T): T;
  };
}

/**
 * Runs `fn` with two gates joined over a fresh nats-server, and cleans up after it (clients,
 * then services, then gates, then NATS).
 */
export async function withTwoGates(
  options: TwoGatesOptions,
  fn: (cluster: TwoGates) => Promise<void>,
): Promise<void> {
  const nats = await startNats(options.natsAuth ? { auth: options.natsAuth } : {});
  const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
  const clients: GateClient[] = [];
  const services: RunningProcess[] = [];
  const gates: GateProcess[] = [];
  let creds: string | undefined;
  if (options.natsAuth) {
    creds = `${dataDir}/nats-gate.json`;
    const { user, password } = options.natsAuth;
    await Deno.writeTextFile(creds, JSON.stringify({ user, password }), { mode: 0o600 });
  }
  const common = [...(creds ? ["--cluster-creds", creds] : []), ...(options.flags ?? [])];
  const start = async (id: string, flags = common) => {
    const gate = await startGate({ dataDir, flags: clusterFlags(nats.url, id, flags) });
    gates.push(gate);
    return gate;
  };
  try {
    const a = await start("a");
    const b = await start("b", [...common, ...(options.bFlags ?? [])]);
    await fn({
      nats,
      dataDir,
      a,
      b,
      creds,
      startGate: start,
      track: {
        client(client) {
          clients.push(client);
          return client;
        },
        service(service) {
          services.push(service);
          return service;
        },
      },
    });
  } finally {
    for (const client of clients) client.close();
    for (const service of services) await service.stop();
    for (const gate of gates) await gate.stop();
    await nats.stop();
  }
}
