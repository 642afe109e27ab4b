/**
 * The login service's link to the cluster (DESIGN.md, "Cluster mode"): with `--cluster URLS`
 * (and `--cluster-creds FILE`, the gate's format: server/gate/cluster_auth.ts) it connects to
 * NATS, where JetStream KV buckets hold what the instances share, the session registry
 * (`kv_sessions.ts`) and the failed-login throttle (`throttle_kv.ts`). Both buckets are written
 * by compare-and-set: a write names the revision it read, and a write over a newer one fails.
 *
 * @example
 * ```ts ignore
 * const nc = await connectCluster({ servers: ["nats://127.0.0.1:4222"], name: "login-1", log });
 * ```
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { Logger } from "../log.ts";
import { authenticator, type ClusterAuth } from "../gate/cluster_auth.ts";

/** Options of {@linkcode connectCluster}. */
export interface ConnectClusterOptions {
  /** NATS URLs (`--cluster`). */
  servers: string[];
  /** Credentials (`--cluster-creds`); an open NATS when absent. */
  auth?: ClusterAuth;
  /** The instance's name, shown by NATS. */
  name: string;
  log: Logger;
}

/**
 * Connects to NATS, reconnecting by itself for as long as the process lives. Throws a sentence
 * when no server answers within 5 s or the credentials are refused.
 */
export async function connectCluster(options: ConnectClusterOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: `gatehouse-${options.name}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
      authenticator: authenticator(options.auth),
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new Error(
      `Cannot join the cluster at ${options.servers.join(",")}: ${(error as Error).message}`,
    );
  }
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") {
        options.log.warn(`cluster ${status.type}`, { server: status.server });
      }
    }
  })().catch(() => {});
  options.log.info("cluster joined", { servers: options.servers.join(",") });
  return nc;
}

/**
 * How long a KV call may take before it fails: a login makes a few in a row, and all of them must
 * fail within the gate's request timeout (10 s) so that the client hears why.
 */
export const KV_TIMEOUT_MS = 2000;

/** The KV buckets of `nc`, their calls failing after {@linkcode KV_TIMEOUT_MS}. */
export function kvBuckets(nc: NatsConnection): Kvm {
  return new Kvm(jetstream(nc, { timeout: KV_TIMEOUT_MS }));
}

/** Whether an error is a failed compare-and-set (the entry moved since it was read). */
export function isWrongRevision(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 10071 || error.code === 10164);
}

/** A KV key part for any text: its UTF-8 bytes in hex (KV keys allow few characters). */
export function keyPart(text: string): string {
  let hex = "";
  for (const byte of new TextEncoder().encode(text)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
