/**
 * A gate's routing core joined to a test nats-server as gate `n` (no ports, no processes: the
 * `ClusterRouter` over a {@linkcode testGate}), and the announcement of a gate played by a test
 * on a raw NATS connection, as `cluster_announce.ts` sends it.
 *
 * @example
 * ```ts ignore
 * const gate = await clusterGate(2, nats.url);
 * await announceGate(nc, { gate: 3, serves: { echo: 50 }, batches: 1 });
 * ```
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { CLIENTS_PER_GATE } from "../../server/gate/cluster_ids.ts";
import { ClusterRouter } from "../../server/gate/cluster_router.ts";
import { ANNOUNCE_SUBJECT } from "../../server/gate/cluster_subjects.ts";
import { type TestGate, testGate } from "./sessions.ts";
import { waitFor } from "./suite.ts";

/** A test gate with its cluster router. */
export interface ClusterGate extends TestGate {
  router: ClusterRouter;
}

/** Starts gate `n` on the nats-server at `nats`; resolves once it is joined (health ok). */
export async function clusterGate(
  n: number,
  nats: string,
  options: { maxInflight?: number } = {},
): Promise<ClusterGate> {
  const gate = testGate({ base: n * CLIENTS_PER_GATE, maxInflight: options.maxInflight });
  const router = new ClusterRouter({
    local: gate,
    log: gate.log,
    requestTimeoutMs: 5000,
    servers: [nats],
    gateId: String(n),
  });
  await router.start();
  await waitFor(() => router.health().status === "ok", { what: `gate ${n} on NATS` });
  return { ...gate, router };
}

/** What a played gate announces (the fields left out are left out of the message). */
export interface PlayedAnnounce {
  gate: number;
  /** Command → how many links serve it; none when absent. */
  serves?: Record<string, number>;
  types?: string[];
  /** The batch forms it reads; absent as from a gate older than batches. */
  batches?: number;
}

/**
 * Publishes the announcement of gate `announce.gate` (epoch 1) on `nc` and flushes: the gates
 * hear it before what `nc` publishes next (one connection, in order).
 */
export async function announceGate(nc: NatsConnection, announce: PlayedAnnounce): Promise<void> {
  const { gate, serves, types, batches } = announce;
  nc.publish(
    ANNOUNCE_SUBJECT,
    JSON.stringify({
      gate,
      gateId: String(gate),
      epoch: 1,
      firstId: gate * CLIENTS_PER_GATE + 1,
      serves: serves ?? {},
      ...(types === undefined ? {} : { types }),
      ...(batches === undefined ? {} : { batches }),
    }),
  );
  await nc.flush();
}
