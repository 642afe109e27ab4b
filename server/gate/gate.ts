/**
 * The gate: one HTTP port (WebSocket at `/ws`, the web page, `/healthz`, `/readyz`, `/metrics`) and one
 * framed-TCP port, both carrying envelopes to the {@linkcode Router}.
 *
 * @example
 * ```ts
 * const gate = new Gate({ ...GATE_DEFAULTS, port: 0, tcpPort: 0, dataDir: "/tmp/g" });
 * const { httpUrl, tcpUrl } = await gate.start();
 * await gate.stop();
 * ```
 * @module
 */

import {
  GateCmd,
  isResponse,
  makeResponse,
  MessageTypes,
  parseEnvelope,
  type ResponseEnvelope,
  State,
} from "../../shared/mod.ts";
import { acceptLoop } from "../accept_loop.ts";
import { createLogger, type Logger } from "../log.ts";
import { METRICS_CONTENT_TYPE } from "../metrics.ts";
import { loadOrCreateServiceKey } from "../service_key.ts";
import { CloseCode, type Connection, type ConnectionEvents } from "./connection.ts";
import { ConnectionIntake } from "./connection_intake.ts";
import { Connections } from "./connections.ts";
import {
  GATE_COMMANDS,
  type GateCommandContext,
  mayCall,
  runGateCommand,
} from "./gate_commands.ts";
import { LinkDispatcher } from "./link_dispatcher.ts";
import { LocalRouter, type LocalSessions } from "./local_router.ts";
import { GateMetrics } from "./metrics.ts";
import type { GateOptions } from "./options.ts";
import type { Router } from "./router.ts";
import { Session } from "./session.ts";
import { type HttpAnswer, HttpPort } from "./http_port.ts";
import type { RequestHead } from "./http_request.ts";
import { serveStatic } from "./static_files.ts";
import { TokenBucket } from "./token_bucket.ts";
import { CLOSE_GRACE_MS } from "./ws_connection.ts";

/** Where a started gate listens. */
export interface GateAddresses {
  /** `http://host:port` (or https). */
  httpUrl: string;
  /** `ws://host:port/ws` (or wss). */
  wsUrl: string;
  /** `tcp://host:port` (or tls). */
  tcpUrl: string;
}

/** A running gate. */
export class Gate implements ConnectionEvents {
  #options: GateOptions;
  #log: Logger;
  #metrics = new GateMetrics();
  #connections!: Connections;
  #dispatcher!: LinkDispatcher;
  #types = new MessageTypes();
  #router!: Router;
  #commands!: GateCommandContext;
  #http?: HttpPort;
  #listener?: Deno.Listener;
  #tcpAccepting?: Promise<void>;
  #intake!: ConnectionIntake;
  #sweeper?: ReturnType<typeof setInterval>;
  #stopping = false;
  #stopProcessMetrics?: () => void;

  constructor(options: GateOptions, log: Logger = createLogger("gate")) {
    this.#options = options;
    this.#log = log;
  }

  /** Starts listening on both ports. */
  async start(): Promise<GateAddresses> {
    const o = this.#options;
    const serviceKey = await loadOrCreateServiceKey(o.dataDir);
    if (serviceKey.source === "env") {
      this.#log.info("service key", { from: "GATEHOUSE_SSKEY" });
    } else {
      this.#log.info(serviceKey.created ? "service key created" : "service key", {
        path: serviceKey.source,
      });
    }
    this.#dispatcher = new LinkDispatcher({
      metrics: this.#metrics,
      log: this.#log,
      requestTimeoutMs: o.requestTimeoutMs,
      maxInflight: o.maxInflight,
      maxUnsentBytes: o.maxUnsentBytes,
      maxMessageBytes: o.maxMessageBytes,
    });
    let nextId: (() => number) | undefined;
    this.#connections = new Connections({ nextId: () => nextId ? nextId() : 0 });
    const local: LocalSessions = {
      connections: this.#connections,
      dispatcher: this.#dispatcher,
      metrics: this.#metrics,
    };
    if (o.cluster) {
      // Loaded only in cluster mode: a single gate never loads the NATS client.
      const { ClusterRouter } = await import("./cluster_router.ts");
      const { readClusterCreds } = await import("./cluster_auth.ts");
      const router = new ClusterRouter({
        local,
        log: this.#log,
        requestTimeoutMs: o.requestTimeoutMs,
        servers: o.cluster,
        gateId: o.gateId ?? crypto.randomUUID().slice(0, 8),
        auth: o.clusterCreds ? await readClusterCreds(o.clusterCreds, this.#log) : undefined,
      });
      // Claims the gate's number (refusing a collision) and its block of clientIds.
      const ids = await router.start();
      nextId = ids;
      this.#router = router;
    } else {
      let last = 0;
      nextId = () => ++last;
      this.#router = new LocalRouter(local);
    }
    this.#commands = {
      router: this.#router,
      metrics: this.#metrics,
      log: this.#log,
      serviceKey: serviceKey.key,
      keyFailures: new Map(),
    };
    const router = this.#router;
    this.#metrics.knownCommands((cmd) => GATE_COMMANDS.has(cmd) || router.knows(cmd));
    this.#stopProcessMetrics = this.#metrics.startProcessMetrics();
    this.#metrics.gauge("connections", {
      help: "Open connections",
      read: () => this.#connections.size,
    });

    this.#intake = new ConnectionIntake({
      options: o,
      metrics: this.#metrics,
      log: this.#log,
      types: this.#types,
      events: this,
      nextId: () => this.#connections.nextId(),
      opened: (connection) => this.#opened(connection),
      stopping: () => this.#stopping,
    });
    this.#metrics.gauge("sockets", {
      help: "Open sockets on both ports, finished or not",
      read: () => this.#intake.sockets,
    });

    const tls = o.cert && o.key
      ? { cert: await Deno.readTextFile(o.cert), key: await Deno.readTextFile(o.key) }
      : undefined;
    const httpListener = tls
      ? Deno.listenTls({ hostname: o.host, port: o.port, ...tls })
      : Deno.listen({ hostname: o.host, port: o.port });
    try {
      this.#listener = tls
        ? Deno.listenTls({ hostname: o.host, port: o.tcpPort, ...tls })
        : Deno.listen({ hostname: o.host, port: o.tcpPort });
    } catch (error) {
      httpListener.close();
      throw error;
    }
    const httpAddr = httpListener.addr as Deno.NetAddr;
    this.#http = new HttpPort({
      listener: httpListener,
      log: this.#log,
      headerTimeoutMs: o.headerTimeoutMs,
      admit: (remote) => this.#intake.admit(remote, "http"),
      release: () => this.#intake.release(),
      handle: (head, info) => this.#handleHttp(head, info),
    });
    this.#http.start();
    this.#tcpAccepting = acceptLoop({
      listener: this.#listener,
      name: "tcp",
      log: this.#log,
      onConn: (conn) => this.#intake.acceptTcp(conn),
    });
    this.#sweeper = setInterval(() => this.#sweepIdle(), Math.min(o.heartbeatMs, 1000));

    const tcpAddr = this.#listener.addr as Deno.NetAddr;
    const host = o.host.includes(":") ? `[${o.host}]` : o.host;
    const addresses: GateAddresses = {
      httpUrl: `${tls ? "https" : "http"}://${host}:${httpAddr.port}`,
      wsUrl: `${tls ? "wss" : "ws"}://${host}:${httpAddr.port}/ws`,
      tcpUrl: `${tls ? "tls" : "tcp"}://${host}:${tcpAddr.port}`,
    };
    this.#log.info("listening", {
      http: addresses.httpUrl,
      tcp: addresses.tcpUrl,
      ws: addresses.wsUrl,
    });
    return addresses;
  }

  /** Stops accepting, answers what is pending `SERVER_OFF`, closes every connection. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#log.info("stopping", { connections: this.#connections.size });
    clearInterval(this.#sweeper);
    this.#stopProcessMetrics?.();
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    await this.#router?.close();
    for (const { conn: connection } of [...this.#connections.values()]) {
      connection.close("The gate is shutting down", CloseCode.GOING_AWAY);
    }
    await this.#http?.stop();
    await this.#tcpAccepting;
    // Let the closes leave: each connection ends when its peer answers, or after its grace.
    const deadline = performance.now() + CLOSE_GRACE_MS + 200;
    while ((this.#intake?.sockets ?? 0) > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.#log.info("stopped");
  }

  /** The metrics, for tests and embedding. */
  get metrics(): GateMetrics {
    return this.#metrics;
  }

  onText(connection: Connection, text: string): void {
    const session = this.#connections.get(connection.id);
    if (!session) return;
    const arrived = session.lastSeen = performance.now();
    const result = parseEnvelope(text);
    if (!result.ok) {
      this.#metrics.inc("bad_requests_total");
      if (result.msgId !== undefined) {
        // Answer the request it could not accept; an unreadable cmd is not echoed.
        this.#respond(
          session,
          makeResponse({ cmd: result.cmd ?? GateCmd.ERROR, msgId: result.msgId }, {
            state: State.BAD_REQUEST,
            msg: result.error,
          }),
          arrived,
        );
      } else {
        connection.sendError(result.error);
      }
      return;
    }
    const envelope = result.envelope;
    if (isResponse(envelope)) {
      if (session.service) {
        this.#router.answer(session, envelope, result.filled ? undefined : text);
      } else connection.sendError("Only service links may send responses");
      return;
    }
    if (!("is_req" in envelope)) {
      connection.sendError("The gate does not accept pushes");
      return;
    }
    this.#metrics.inc("requests_total");
    if (!session.service && !session.bucket.take(arrived)) {
      this.#metrics.inc("rate_limited_total");
      this.#respond(
        session,
        makeResponse(envelope, {
          state: State.RATE_LIMITED,
          msg: `More than ${this.#options.rate} requests per second`,
        }),
        arrived,
      );
      return;
    }
    const cmd = envelope.cmd;
    if (!mayCall(session, cmd)) {
      this.#respond(
        session,
        makeResponse(envelope, {
          state: State.UNDEFINED_CMD,
          msg: `Only service links may call ${cmd}`,
        }),
        arrived,
      );
      return;
    }
    if (GATE_COMMANDS.has(cmd)) {
      runGateCommand(this.#commands, session, envelope).then(
        (response) => this.#respond(session, response, arrived),
        (error) => {
          this.#log.error("gate command failed", { cmd, error });
          this.#respond(
            session,
            makeResponse(envelope, {
              state: State.FAIL,
              msg: "The gate could not run the command",
            }),
            arrived,
          );
        },
      );
      return;
    }
    this.#router.route(session, envelope);
  }

  onActivity(connection: Connection): void {
    const session = this.#connections.get(connection.id);
    if (session) session.lastSeen = performance.now();
  }

  onClose(connection: Connection): void {
    const session = this.#connections.get(connection.id);
    if (!session) return;
    this.#connections.delete(session);
    if (session.service) {
      this.#router.removeLink(session);
      this.#log.info("service left", {
        clientId: session.id,
        name: session.service.name,
      });
    }
    // A service link is a member of the suite too (it may have joined groups): tell the others.
    if (!this.#stopping) this.#router.clientLeft(session);
  }

  /** Sends a response the gate itself makes to a request that arrived at `arrived`. */
  #respond(to: Session, response: ResponseEnvelope, arrived: number): void {
    to.reply(JSON.stringify(response), response.state);
    this.#metrics.observeRequest(
      response.cmd,
      response.state,
      (performance.now() - arrived) / 1000,
    );
  }

  async #handleHttp(
    head: RequestHead,
    info: { remote: Deno.NetAddr; refused: boolean },
  ): Promise<HttpAnswer> {
    let url: URL;
    try {
      url = new URL(head.target, "http://gate");
    } catch {
      return new Response("The request target is not a valid URL\n", { status: 400 });
    }
    if (url.pathname === "/ws") return this.#intake.upgrade(head, info);
    if (head.method !== "GET" && head.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    if (url.pathname === "/healthz") {
      const health = this.#router.health();
      return Response.json({
        status: this.#stopping ? "stopping" : health.status,
        reason: health.reason,
        connections: this.#connections.size,
      }, { status: this.#stopping ? 503 : 200 });
    }
    if (url.pathname === "/readyz") return this.#readiness();
    if (url.pathname === "/metrics") {
      return new Response(this.#metrics.render(), {
        headers: { "content-type": METRICS_CONTENT_TYPE },
      });
    }
    return await serveStatic(this.#options.webDir, url.pathname);
  }

  /**
   * `/readyz`: 200 `{"status":"ready"}` when every `--require-services` type has at least one
   * registered link this gate's requests reach (in cluster mode: on any gate heard); otherwise
   * 503 naming the missing ones (or saying it stops).
   */
  #readiness(): Response {
    if (this.#stopping) {
      return Response.json({ status: "stopping", reason: "The gate is shutting down" }, {
        status: 503,
      });
    }
    const linked = this.#router.serviceTypes();
    const missing = this.#options.requireServices.filter((type) => !linked.has(type));
    if (missing.length === 0) return Response.json({ status: "ready" });
    return Response.json({
      status: "not ready",
      missing,
      reason: `No link of ${missing.join(", ")}`,
    }, { status: 503 });
  }

  #opened(connection: Connection): void {
    const session = new Session({
      conn: connection,
      bucket: this.#bucket(),
      reply: this.#dispatcher.replyTo(connection),
    });
    this.#connections.add(session);
    this.#metrics.inc("connections_opened_total", `transport="${connection.transport}"`);
    this.#log.debug("connection opened", {
      clientId: connection.id,
      transport: connection.transport,
      remote: connection.remote,
    });
  }

  #bucket(): TokenBucket {
    return new TokenBucket({ ratePerSecond: this.#options.rate, burst: this.#options.burst });
  }

  #sweepIdle(): void {
    const limit = 3 * this.#options.heartbeatMs;
    const now = performance.now();
    for (const session of this.#connections.values()) {
      const connection = session.conn;
      if (now - session.lastSeen > limit && !connection.closed) {
        this.#metrics.inc("idle_closed_total");
        this.#log.info("idle connection closed", { clientId: connection.id });
        connection.sendError(`Nothing received for ${limit} ms (3 heartbeat intervals)`);
        connection.close("Idle for 3 heartbeat intervals", CloseCode.POLICY);
      }
    }
  }
}
