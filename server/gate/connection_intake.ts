/**
 * How sockets become connections at the gate, on both ports: the socket budget that
 * `--max-connections` caps (every open socket counts, finished or not), past which a new one is
 * told why and closed, and past the fd ceiling closed at once so that refusing cannot exhaust the
 * file descriptors (fd_budget.ts); the WebSocket upgrade at `/ws` (handshake, `--allow-origin`,
 * the client's address behind `--trust-proxy`); and the framed-TCP accept.
 *
 * @example
 * ```ts ignore
 * const intake = new ConnectionIntake({ options, metrics, log, types, events: gate, ... });
 * acceptLoop({ listener, name: "tcp", log, onConn: (conn) => intake.acceptTcp(conn) });
 * ```
 * @module
 */

import { type MessageTypes, State } from "../../shared/mod.ts";
import { connectionBudget, PROBE_CAP, socketCeiling } from "../fd_budget.ts";
import type { Logger } from "../log.ts";
import { clientSource } from "./client_source.ts";
import { CloseCode, type Connection, type ConnectionEvents } from "./connection.ts";
import type { Admission, HttpAnswer } from "./http_port.ts";
import type { RequestHead } from "./http_request.ts";
import type { GateMetrics } from "./metrics.ts";
import type { GateOptions } from "./options.ts";
import { TcpConnection } from "./tcp_connection.ts";
import { WebSocketConnection } from "./ws_connection.ts";
import { websocketHandshake } from "./ws_handshake.ts";

/** Options of {@linkcode ConnectionIntake}. */
export interface ConnectionIntakeOptions {
  options: Pick<
    GateOptions,
    "maxConnections" | "maxMessageBytes" | "trustProxy" | "allowOrigins"
  >;
  metrics: GateMetrics;
  log: Logger;
  types: MessageTypes;
  /** Where a served connection's messages and close go (the gate). */
  events: ConnectionEvents;
  /** The clientId of the next served connection. */
  nextId(): number;
  /** A connection is served: the gate makes its session. */
  opened(connection: Connection): void;
  /** Whether the gate is stopping (new sockets are then closed). */
  stopping(): boolean;
}

/** The gate's socket budget, WebSocket upgrade and framed-TCP accept. */
export class ConnectionIntake {
  #options: ConnectionIntakeOptions;
  /** Open sockets on both ports, finished or not: the budget `--max-connections` caps. */
  #sockets = 0;
  #maxConnections: number;
  /** Past this many sockets a new one is closed at once (fd_budget.ts socketCeiling). */
  #ceiling: number;

  /** Takes the budget from `--max-connections`, or from the fd limit; logs it. */
  constructor(options: ConnectionIntakeOptions) {
    this.#options = options;
    const { log } = options;
    const flag = options.options.maxConnections;
    const budget = connectionBudget();
    this.#maxConnections = flag ?? budget.maxConnections;
    this.#ceiling = socketCeiling({
      maxConnections: this.#maxConnections,
      fdLimit: budget.fdLimit,
    });
    log.info("max connections", {
      max: this.#maxConnections,
      fdLimit: budget.fdLimit ?? (budget.source === "probe capped" ? `>=${PROBE_CAP}` : "unknown"),
      fdLimitFrom: budget.source,
      from: flag === undefined ? "fd limit" : "flag",
    });
    if (budget.fdLimit !== undefined && this.#maxConnections > budget.maxConnections) {
      log.warn("max connections above the fd budget", {
        max: this.#maxConnections,
        budget: budget.maxConnections,
        fdLimit: budget.fdLimit,
      });
    }
  }

  /** Open sockets on both ports, finished or not. */
  get sockets(): number {
    return this.#sockets;
  }

  /**
   * At accept, on either port: serve the socket, refuse what it asks (past `--max-connections`,
   * told why), or close it at once (past the ceiling, or while the gate stops).
   */
  admit(peer: Deno.NetAddr, port: "http" | "tcp"): Admission {
    const { metrics, log } = this.#options;
    const stopping = this.#options.stopping();
    if (stopping || this.#sockets >= this.#ceiling) {
      if (!stopping) {
        metrics.inc("connections_refused_total");
        log.warn("connection dropped", {
          remote: clientSource({ peer: peer, trustProxy: [] }),
          port,
          reason: `${this.#ceiling} sockets open, the most the fd limit allows`,
        });
      }
      return "drop";
    }
    this.#sockets++;
    return this.#sockets <= this.#maxConnections ? "serve" : "refuse";
  }

  /** A socket admitted on the HTTP port closed. */
  release(): void {
    this.#sockets--;
  }

  #limitReason(): string {
    return `The gate is at its limit of ${this.#maxConnections} connections`;
  }

  /** `/ws`: the WebSocket handshake, then a connection (or a refusal that says why). */
  upgrade(head: RequestHead, info: { remote: Deno.NetAddr; refused: boolean }): HttpAnswer {
    const { options: o, metrics, log, types } = this.#options;
    // The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy.
    const remote = clientSource({
      peer: info.remote,
      headers: head.headers,
      trustProxy: o.trustProxy,
    });
    const handshake = websocketHandshake(head);
    if (!handshake.ok && handshake.status === 426 && !head.headers.has("upgrade")) {
      return new Response(`${handshake.message}\n`, { status: 426 });
    }
    const origin = head.headers.get("origin");
    const allowed = o.allowOrigins;
    if (origin !== undefined && allowed.length > 0 && !allowed.includes(origin)) {
      log.warn("origin refused", { origin, remote });
      return new Response(`Origin ${origin} is not allowed\n`, { status: 403 });
    }
    if (!handshake.ok) {
      return new Response(`${handshake.message}\n`, {
        status: handshake.status,
        headers: handshake.headers,
      });
    }
    if (this.#options.stopping()) {
      return new Response("The gate is shutting down\n", { status: 503 });
    }
    return {
      takeOver: (conn, rest, onEnd) => {
        if (info.refused) {
          // Closed at once with the reason; what the peer sends meanwhile is read and dropped
          // until it answers the close, so that no reset destroys the close frame.
          metrics.inc("connections_refused_total");
          log.warn("connection refused", { remote, transport: "ws", reason: this.#limitReason() });
          const refused = new WebSocketConnection({
            id: 0,
            conn,
            rest,
            handshake: handshake.response,
            remote,
            events: { onText() {}, onClose() {} },
            types,
            maxMessageBytes: o.maxMessageBytes,
            onEnd,
          });
          refused.close(this.#limitReason(), CloseCode.TRY_AGAIN_LATER);
          return;
        }
        const connection = new WebSocketConnection({
          id: this.#options.nextId(),
          conn,
          rest,
          handshake: handshake.response,
          remote,
          events: this.#options.events,
          types,
          maxMessageBytes: o.maxMessageBytes,
          onOversized: () => metrics.inc("oversized_total"),
          onHandlerError: (error) => log.error("message handling failed", { error }),
          onEnd,
        });
        this.#options.opened(connection);
      },
    };
  }

  /** A socket accepted on the framed-TCP port: a connection, a refusal, or closed at once. */
  acceptTcp(conn: Deno.Conn): void {
    const { options: o, metrics, log, types } = this.#options;
    const peer = conn.remoteAddr as Deno.NetAddr;
    const admission = this.admit(peer, "tcp");
    if (admission === "drop") {
      try {
        conn.close();
      } catch { /* already closed */ }
      return;
    }
    let released = false;
    const onEnd = () => {
      if (released) return;
      released = true;
      this.#sockets--;
    };
    if (admission === "refuse") {
      metrics.inc("connections_refused_total");
      log.warn("connection refused", {
        remote: clientSource({ peer, trustProxy: [] }),
        transport: "tcp",
        reason: this.#limitReason(),
      });
      const refused = new TcpConnection({
        id: 0,
        conn,
        events: { onText() {}, onClose() {} },
        types,
        maxMessageBytes: o.maxMessageBytes,
        onEnd,
      });
      refused.sendError(this.#limitReason(), State.SERVER_BUSY);
      refused.close("Connection limit");
      return;
    }
    const connection = new TcpConnection({
      id: this.#options.nextId(),
      conn,
      events: this.#options.events,
      types,
      maxMessageBytes: o.maxMessageBytes,
      onOversized: () => metrics.inc("oversized_total"),
      onEnd,
    });
    this.#options.opened(connection);
  }
}
