/**
 * The gate's connection to NATS: connect (retrying every second until it works or the gate
 * stops), with the options every gate connection uses.
 *
 * @module
 */

import { Socket } from "node:net";
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
 * Keeps an `error` listener on every `node:net` socket of the process. The NATS client's
 * transport removes every listener of a socket it gives up on (an attempt refused for its
 * credentials, a closed connection) and destroys it; under Deno a read still pending on it can
 * then fail with ECONNRESET, emitted on a socket with no listener: an uncaught exception, which
 * stops the gate (seen when NATS's password changed). In a gate, `node:net` sockets are the NATS
 * client's alone (the gate's own are Deno's), and the client listens for errors on the sockets it
 * uses; this listener only keeps an abandoned socket's error from escaping.
 */
function catchAbandonedSocketErrors(): void {
  const proto = Socket.prototype as Socket & { [GUARDED]?: true };
  if (proto[GUARDED]) return;
  proto[GUARDED] = true;
  const removeAll = proto.removeAllListeners;
  proto.removeAllListeners = function (this: Socket, ...event: (string | symbol)[]) {
    // Passed on as given: with no argument at all, every event's listeners go.
    const result = removeAll.apply(this, event as [string | symbol]);
    if (!this.listeners("error").includes(ignore)) this.on("error", ignore);
    return result;
  };
}

const GUARDED = Symbol("gatehouse.abandonedSocketErrors");

/** The listener of an abandoned socket's error. */
function ignore(): void {}

/**
 * Connects to NATS, retrying every second; undefined when the gate stopped first. Throws when
 * `refusedIsFatal` and NATS refuses the credentials.
 */
export async function connectNats(
  options: ConnectNatsOptions,
): Promise<NatsConnection | undefined> {
  catchAbandonedSocketErrors();
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
