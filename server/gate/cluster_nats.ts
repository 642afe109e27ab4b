/**
 * The gate's connection to NATS: connect (retrying every second until it works or the gate
 * stops), with the options every gate connection uses.
 *
 * @module
 */

import { AuthorizationError, connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import { authenticator, type ClusterAuth } from "./cluster_auth.ts";

/** Options of {@linkcode connectNats}. */
export interface ConnectNatsOptions {
  /** NATS server URLs. */
  servers: string[];
  gateId: string;
  auth?: ClusterAuth;
  log: Logger;
  /** Whether the gate stopped meanwhile (then the loop gives up). */
  stopped(): boolean;
  /** Why NATS cannot be reached now (for `/healthz`). */
  onUnreachable(reason: string): void;
  /**
   * Whether credentials NATS refuses end the loop (at start: waiting would not mend them); else
   * it keeps retrying.
   */
  refusedIsFatal?: boolean;
}

/**
 * Connects to NATS, retrying every second; undefined when the gate stopped first. Throws when
 * `refusedIsFatal` and NATS refuses the credentials.
 */
export async function connectNats(
  options: ConnectNatsOptions,
): Promise<NatsConnection | undefined> {
  const { servers, log } = options;
  while (!options.stopped()) {
    try {
      const nc = await connect({
        servers,
        name: `gatehouse-gate-${options.gateId}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: 2000,
        authenticator: authenticator(options.auth),
        // Without this the client makes two Error objects per request only to keep stack
        // traces: ~18% of a gate's CPU under load (bench/FINDINGS.md, finding 8).
        noAsyncTraces: true,
      });
      if (options.stopped()) {
        await nc.close();
        return undefined;
      }
      return nc;
    } catch (error) {
      if (options.refusedIsFatal && error instanceof AuthorizationError) {
        throw new Error(
          `NATS at ${servers.join(",")} refused the gate's credentials: ${
            options.auth ? "check --cluster-creds" : "it needs --cluster-creds"
          }`,
        );
      }
      options.onUnreachable(
        `Cannot reach NATS at ${servers.join(",")}: ${(error as Error).message}`,
      );
      log.warn("cluster unreachable", { nats: servers.join(","), error });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  return undefined;
}
