/**
 * The cluster {@linkcode Router}: gates joined over NATS (DESIGN.md, "Cluster mode").
 *
 * - Each (service link, command) is a NATS queue subscription on the command's subject, so a
 *   request entering any gate is spread over every instance on every gate. NATS request-reply
 *   carries it; "no responders" becomes `SERVER_OFF` (or `UNDEFINED_CMD` when no gate ever
 *   served the command) and its timeout `TIMEOUT`. A command that only this gate serves skips
 *   NATS.
 * - Pushes, kicks and user bindings for a client on another gate go to that gate's subject, one
 *   message per gate for a push to many clients. Client-leave events go to every gate.
 * - While NATS is unreachable the gate serves its own links and reports `degraded`; the NATS
 *   client reconnects by itself.
 *
 * @module
 */

import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  makeResponse,
  type RequestEnvelope,
  type ResponseEnvelope,
  State,
  stateName,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { gateOfClient } from "./cluster_ids.ts";
import type { Connection } from "./connection.ts";
import type { GateMetrics } from "./metrics.ts";
import { LocalRouter, type LocalRouterOptions, stampSender } from "./local_router.ts";
import type { Router, RouterHealth } from "./router.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Subject prefix of everything Gatehouse sends over NATS. */
export const SUBJECT_PREFIX = "gatehouse";

/** How often a gate tells the others which commands it serves. */
const ANNOUNCE_MS = 1000;

/** The NATS subject (and queue group) of a command. Names with `.` or `:` are hex-encoded. */
export function commandSubject(cmd: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(cmd)) return `${SUBJECT_PREFIX}.cmd.c.${cmd}`;
  const hex = Array.from(new TextEncoder().encode(cmd), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  return `${SUBJECT_PREFIX}.cmd.h.${hex}`;
}

/** The subject of one gate's control messages. */
export function gateSubject(gateNumber: number): string {
  return `${SUBJECT_PREFIX}.gate.${gateNumber}`;
}

const LEAVE_SUBJECT = `${SUBJECT_PREFIX}.leave`;
const ANNOUNCE_SUBJECT = `${SUBJECT_PREFIX}.announce`;

/** Control messages between gates. */
type GateMessage =
  | { op: "push"; clientIds: number[]; text: string }
  | { op: "bind"; clientId: number; userId: number; token?: string }
  | { op: "unbind"; clientId: number; userId: number }
  | { op: "kick"; clientId: number; reason: string };

interface Announce {
  gate: number;
  gateId: string;
  cmds: string[];
}

/** Options of {@linkcode ClusterRouter}. */
export interface ClusterRouterOptions extends LocalRouterOptions {
  /** NATS server URLs. */
  servers: string[];
  gateId: string;
  gateNumber: number;
}

/** A request that came from another gate, answered through its NATS reply subject. */
class RemoteRequester implements Connection {
  readonly id: number;
  readonly transport = "cluster" as const;
  readonly remote = "nats";
  userId: number;
  lastSeen = 0;
  inflight = 0;
  readonly bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 });
  #msg: Msg;
  #answered = false;

  constructor(msg: Msg, request: RequestEnvelope) {
    this.#msg = msg;
    this.id = Number(request.clientId ?? 0);
    this.userId = request.userId ?? 0;
  }

  get closed(): boolean {
    return this.#answered;
  }

  get unsentBytes(): number {
    return 0;
  }

  sendText(text: string): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#msg.respond(text);
  }

  sendError(): void {}

  close(): void {}
}

/** Routes over NATS across gates, and locally when NATS is away. */
export class ClusterRouter implements Router {
  #local: LocalRouter;
  #options: ClusterRouterOptions;
  #log: Logger;
  #metrics: GateMetrics;
  #nc?: NatsConnection;
  #connected = false;
  #reason = "Not connected to NATS yet";
  #subscriptions = new Map<Connection, Subscription[]>();
  #others = new Map<number, { gateId: string; cmds: Set<string>; seen: number }>();
  #everServed = new Set<string>();
  #announcer?: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(options: ClusterRouterOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#local = new LocalRouter(options);
    options.metrics.gauge("cluster_connected", {
      help: "1 while the gate is connected to NATS",
      read: () => this.#connected ? 1 : 0,
    });
  }

  /** Connects to NATS in the background; resolves at once. */
  start(): void {
    this.#connectLoop();
    this.#announcer = setInterval(() => this.#announce(), ANNOUNCE_MS);
  }

  addLink(link: Connection): void {
    this.#unsubscribe(link);
    this.#local.addLink(link);
    for (const cmd of link.service?.apis ?? []) this.#everServed.add(cmd);
    this.#subscribe(link);
    this.#announce();
  }

  removeLink(link: Connection): void {
    this.#unsubscribe(link);
    this.#local.removeLink(link);
    this.#announce();
  }

  route(from: Connection, request: RequestEnvelope): void {
    const nc = this.#nc;
    if (!nc || !this.#connected || !this.#servedElsewhere(request.cmd)) {
      this.#local.route(from, request);
      return;
    }
    stampSender(request, from);
    const cmd = request.cmd;
    nc.request(commandSubject(cmd), JSON.stringify(request), {
      timeout: this.#options.requestTimeoutMs,
    }).then(
      (msg) => {
        const text = msg.string();
        const state = /"state":(\d+)/.exec(text)?.[1];
        this.#metrics.inc("responses_total", `state="${stateName(Number(state ?? 0))}"`);
        if (!from.closed) from.sendText(text);
      },
      (error: Error) => {
        const noResponders = /no responders/i.test(error.message) ||
          (error as { code?: string }).code === "503";
        const answer = noResponders
          ? this.#knows(cmd)
            ? { state: State.SERVER_OFF, msg: `No service for ${cmd} is connected` }
            : { state: State.UNDEFINED_CMD, msg: `No service has registered ${cmd}` }
          : {
            state: State.TIMEOUT,
            msg: `No answer to ${cmd} within ${this.#options.requestTimeoutMs} ms`,
          };
        if (!from.closed) this.#local.respond(from, makeResponse(request, answer));
      },
    );
  }

  answer(link: Connection, response: ResponseEnvelope): void {
    this.#local.answer(link, response);
  }

  push(clientIds: number[], text: string): number {
    const byGate = this.#byGate(clientIds);
    let reached = this.#local.push(byGate.get(this.#options.gateNumber) ?? [], text);
    byGate.delete(this.#options.gateNumber);
    for (const [gate, ids] of byGate) {
      if (this.#publish(gate, { op: "push", clientIds: ids, text })) reached += ids.length;
    }
    return reached;
  }

  bindUser(
    binding: { clientId: number; userId: number; token?: string },
  ): Promise<boolean> | boolean {
    const gate = gateOfClient(binding.clientId);
    if (gate === this.#options.gateNumber) return this.#local.bindUser(binding);
    return this.#ask(gate, { op: "bind", ...binding });
  }

  unbindUser(binding: { clientId: number; userId: number }): Promise<boolean> | boolean {
    const gate = gateOfClient(binding.clientId);
    if (gate === this.#options.gateNumber) return this.#local.unbindUser(binding);
    return this.#ask(gate, { op: "unbind", ...binding });
  }

  kick(kick: { clientId: number; reason: string }): Promise<boolean> | boolean {
    const gate = gateOfClient(kick.clientId);
    if (gate === this.#options.gateNumber) return this.#local.kick(kick);
    return this.#ask(gate, { op: "kick", ...kick });
  }

  clientLeft(client: { id: number; userId: number }): void {
    this.#local.clientLeft(client);
    if (this.#connected) {
      this.#nc?.publish(
        LEAVE_SUBJECT,
        JSON.stringify({
          gate: this.#options.gateNumber,
          clientId: client.id,
          userId: client.userId,
        }),
      );
    }
  }

  health(): RouterHealth {
    return this.#connected ? { status: "ok" } : { status: "degraded", reason: this.#reason };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#announcer);
    this.#local.close();
    this.#nc?.close().catch(() => {});
  }

  /** Sends a response the gate itself makes. */
  respond(to: Connection, response: ResponseEnvelope): void {
    this.#local.respond(to, response);
  }

  async #connectLoop(): Promise<void> {
    const servers = this.#options.servers;
    while (!this.#closed) {
      try {
        const nc = await connect({
          servers,
          name: `gatehouse-gate-${this.#options.gateId}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          timeout: 2000,
          // Without this the client makes two Error objects per request only to keep stack
          // traces: ~18% of a gate's CPU under load (bench/FINDINGS.md, finding 8).
          noAsyncTraces: true,
        });
        if (this.#closed) {
          await nc.close();
          return;
        }
        this.#nc = nc;
        this.#joined(nc);
        return;
      } catch (error) {
        this.#reason = `Cannot reach NATS at ${servers.join(",")}: ${(error as Error).message}`;
        this.#log.warn("cluster unreachable", { nats: servers.join(","), error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  #joined(nc: NatsConnection): void {
    this.#connected = true;
    this.#log.info("cluster joined", {
      nats: nc.getServer(),
      gateId: this.#options.gateId,
      gate: this.#options.gateNumber,
    });
    nc.subscribe(gateSubject(this.#options.gateNumber), {
      callback: (_error, msg) => this.#onGateMessage(msg),
    });
    nc.subscribe(LEAVE_SUBJECT, {
      callback: (_error, msg) => {
        try {
          const leave = msg.json<{ gate: number; clientId: number; userId: number }>();
          if (leave.gate !== this.#options.gateNumber) {
            this.#local.clientLeft({ id: leave.clientId, userId: leave.userId });
          }
        } catch { /* not ours */ }
      },
    });
    nc.subscribe(ANNOUNCE_SUBJECT, {
      callback: (_error, msg) => {
        try {
          const announce = msg.json<Announce>();
          if (announce.gate === this.#options.gateNumber) {
            if (announce.gateId !== this.#options.gateId) {
              this.#log.error("gate number collision", {
                gate: announce.gate,
                other: announce.gateId,
              });
            }
            return;
          }
          this.#others.set(announce.gate, {
            gateId: announce.gateId,
            cmds: new Set(announce.cmds),
            seen: Date.now(),
          });
          for (const cmd of announce.cmds) this.#everServed.add(cmd);
        } catch { /* not ours */ }
      },
    });
    for (const link of this.#subscriptions.keys()) this.#subscribe(link);
    for (const link of this.#local.links.all()) {
      if (!this.#subscriptions.has(link)) this.#subscribe(link);
    }
    this.#announce();
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          this.#connected = false;
          this.#reason = `Lost NATS at ${nc.getServer()}; reconnecting`;
          this.#log.warn("cluster connection lost", { nats: nc.getServer() });
        } else if (status.type === "reconnect") {
          this.#connected = true;
          this.#log.info("cluster rejoined", { nats: nc.getServer() });
          this.#announce();
        }
      }
    })().catch(() => {});
    nc.closed().then(() => {
      this.#connected = false;
      if (!this.#closed) {
        this.#reason = "The NATS connection closed";
        this.#nc = undefined;
        this.#connectLoop();
      }
    });
  }

  #subscribe(link: Connection): void {
    const nc = this.#nc;
    const subs: Subscription[] = [];
    this.#subscriptions.set(link, subs);
    if (!nc) return;
    for (const cmd of link.service?.apis ?? []) {
      const subject = commandSubject(cmd);
      subs.push(nc.subscribe(subject, {
        queue: subject,
        callback: (_error, msg) => this.#serve(link, msg),
      }));
    }
  }

  #unsubscribe(link: Connection): void {
    for (const sub of this.#subscriptions.get(link) ?? []) sub.unsubscribe();
    this.#subscriptions.delete(link);
  }

  /** A request from another gate (or this one, through NATS) for one of this gate's links. */
  #serve(link: Connection, msg: Msg): void {
    if (!msg.reply) return;
    let request: RequestEnvelope;
    try {
      request = msg.json<RequestEnvelope>();
    } catch {
      return;
    }
    const requester = new RemoteRequester(msg, request);
    if (link.closed) {
      this.#local.respond(
        requester,
        makeResponse(request, {
          state: State.SERVER_OFF,
          msg: `No service for ${request.cmd} is connected`,
        }),
      );
      return;
    }
    if (link.inflight >= this.#options.maxInflight) {
      this.#local.respond(
        requester,
        makeResponse(request, {
          state: State.SERVER_BUSY,
          msg: `Every service for ${request.cmd} is at its in-flight limit`,
        }),
      );
      return;
    }
    this.#local.forward({ link, from: requester, request });
  }

  #onGateMessage(msg: Msg): void {
    let message: GateMessage;
    try {
      message = msg.json<GateMessage>();
    } catch {
      return;
    }
    let result = false;
    switch (message.op) {
      case "push":
        this.#local.push(message.clientIds, message.text);
        return;
      case "bind":
        result = this.#local.bindUser(message);
        break;
      case "unbind":
        result = this.#local.unbindUser(message);
        break;
      case "kick":
        result = this.#local.kick(message);
        break;
    }
    if (msg.reply) msg.respond(JSON.stringify({ ok: result }));
  }

  #publish(gate: number, message: GateMessage): boolean {
    if (!this.#nc || !this.#connected) return false;
    this.#nc.publish(gateSubject(gate), JSON.stringify(message));
    return true;
  }

  async #ask(gate: number, message: GateMessage): Promise<boolean> {
    if (!this.#nc || !this.#connected) return false;
    try {
      const reply = await this.#nc.request(gateSubject(gate), JSON.stringify(message), {
        timeout: Math.min(2000, this.#options.requestTimeoutMs),
      });
      return reply.json<{ ok: boolean }>().ok === true;
    } catch {
      return false;
    }
  }

  #byGate(clientIds: number[]): Map<number, number[]> {
    const byGate = new Map<number, number[]>();
    for (const id of clientIds) {
      const gate = gateOfClient(id);
      let ids = byGate.get(gate);
      if (!ids) byGate.set(gate, ids = []);
      ids.push(id);
    }
    return byGate;
  }

  #announce(): void {
    if (!this.#nc || !this.#connected) return;
    const announce: Announce = {
      gate: this.#options.gateNumber,
      gateId: this.#options.gateId,
      cmds: this.#local.links.commands,
    };
    this.#nc.publish(ANNOUNCE_SUBJECT, JSON.stringify(announce));
    const stale = Date.now() - 3 * ANNOUNCE_MS;
    for (const [gate, other] of this.#others) if (other.seen < stale) this.#others.delete(gate);
  }

  /** Whether another gate serves `cmd` now (as last announced). */
  #servedElsewhere(cmd: string): boolean {
    for (const other of this.#others.values()) if (other.cmds.has(cmd)) return true;
    return false;
  }

  /** Whether any gate ever served `cmd`. */
  #knows(cmd: string): boolean {
    return this.#everServed.has(cmd) || this.#local.links.everServed(cmd);
  }
}
