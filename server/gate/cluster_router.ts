/**
 * The cluster {@linkcode Router}: gates joined over NATS (DESIGN.md, "Cluster mode"). It is the
 * same {@linkcode LinkDispatcher} as a single gate, plus NATS:
 *
 * - Each gate subscribes once per command its links serve, on a subject of its own
 *   (`gatehouse.g.<gate>.c.<cmd>`); that handler picks among the gate's links. A gate says every
 *   second (and at once on a change) which commands it serves with how many links; that is also
 *   its heartbeat.
 * - The gate a request enters picks the gate that serves it, round-robin weighted by link
 *   counts, this gate's own links taken without NATS. A gate whose links are all at their
 *   in-flight limit replies "busy" without forwarding, and the next gate is tried: a busy link is
 *   skipped cluster-wide. Because the requester knows where each request went, the requests in
 *   flight to a gate found dead are answered `SERVER_OFF` at once.
 * - A command no gate serves now is `SERVER_OFF` when any gate ever served it, else
 *   `UNDEFINED_CMD`. Requests go out as publishes with a reply subject of this gate's
 *   (`gatehouse.r.<gate>.<epoch>.<id>`, one wildcard subscription for every answer, one sweep for
 *   every timeout: no promise and no timer per request); NATS's "no responders" comes back there
 *   as a 503 status, told apart by its code; errors of NATS requests by class
 *   (`NoRespondersError`, `TimeoutError`).
 * - Pushes, kicks and user bindings for a client on another gate go to that gate's control
 *   subject, one message per gate for a push to many clients.
 * - Identity (gate_identity.ts): the gate claims its number in a KV bucket and refuses to start
 *   when a live gate holds it; its clientIds come from blocks never used before. A gate not
 *   heard for `GATE_LAPSE_MS` (gate_directory.ts), or heard again with another epoch, is down: its
 *   requests in flight are answered `SERVER_OFF` at once, and every service that hears client
 *   leaves gets `ss_msg_gate_down` with the range of clientIds that left.
 * - Client leaves go through a JetStream stream (leave_stream.ts), so a NATS restart loses none.
 * - While NATS is unreachable the gate serves its own links and reports `degraded`; the NATS
 *   client reconnects by itself.
 *
 * @module
 */

import {
  AuthorizationError,
  connect,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  type Subscription,
  TimeoutError,
} from "@nats-io/transport-node";
import {
  type GateDown,
  type RequestEnvelope,
  type ResponseEnvelope,
  State,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { CLIENTS_PER_GATE, gateNumber, gateOfClient } from "./cluster_ids.ts";
import {
  ANNOUNCE_SUBJECT,
  commandSubject,
  controlSubject,
  REFUSED_HEADER,
  replyPrefix,
  STATE_HEADER,
} from "./cluster_subjects.ts";
import { jserrors } from "@nats-io/jetstream/internal";
import { GateIdentity, GateNumberTakenError } from "./gate_identity.ts";
import { authenticator, type ClusterAuth } from "./cluster_auth.ts";
import { type ControlMessage, runControl } from "./cluster_control.ts";
import { type Announce, ANNOUNCE_MS, GateDirectory, type GateGone } from "./gate_directory.ts";
import { KnownCommands } from "./known_commands.ts";
import { LeaveStream } from "./leave_stream.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";
import {
  bindLocal,
  kickLocal,
  type LocalSessions,
  pushLocal,
  stampSender,
  tellClientLeft,
  tellGateDown,
  unbindLocal,
} from "./local_router.ts";
import type { GateMetrics } from "./metrics.ts";
import { RemoteCalls } from "./remote_calls.ts";
import type { Binding, Router, RouterHealth } from "./router.ts";
import type { Reply, Session } from "./session.ts";

/** How long a command no longer served keeps its subscription (answering "off"). */
const UNSUBSCRIBE_AFTER_MS = 3 * ANNOUNCE_MS;

/** Options of {@linkcode ClusterRouter}. */
export interface ClusterRouterOptions {
  /** This gate's sessions and dispatcher. */
  local: LocalSessions;
  log: Logger;
  requestTimeoutMs: number;
  /** NATS server URLs. */
  servers: string[];
  gateId: string;
  /** Credentials for NATS; none for an open NATS (a test or a trusted network only). */
  auth?: ClusterAuth;
  /** How long a claimed number is watched before a restart takes it over (CLAIM_LAPSE_MS). */
  claimLapseMs?: number;
}

/** Routes over NATS across gates, and on this gate's own links when NATS is away. */
export class ClusterRouter implements Router {
  #local: LocalSessions;
  #dispatcher: LinkDispatcher;
  #metrics: GateMetrics;
  #options: ClusterRouterOptions;
  #log: Logger;
  #gate: number;
  #nc?: NatsConnection;
  #connected = false;
  #reason = "Not connected to NATS yet";
  /** Command → this gate's subscription for it. */
  #served = new Map<string, { sub: Subscription; idleSince?: number }>();
  #directory: GateDirectory;
  #calls: RemoteCalls<Attempt>;
  /** This run's reply subject prefix (with a trailing dot), once the number is claimed. */
  #inbox = "";
  #timer?: ReturnType<typeof setInterval>;
  #closed = false;
  #identity?: GateIdentity;
  #knownCommands: KnownCommands;
  #leaves?: LeaveStream;
  /** Links already told that this gate's earlier runs are gone. */
  #toldRestart = new WeakSet<Session>();

  constructor(options: ClusterRouterOptions) {
    this.#options = options;
    this.#local = options.local;
    this.#dispatcher = options.local.dispatcher;
    this.#metrics = options.local.metrics;
    this.#log = options.log;
    this.#gate = gateNumber(options.gateId);
    this.#knownCommands = new KnownCommands({ log: options.log });
    this.#directory = new GateDirectory({ self: this.#gate });
    this.#calls = new RemoteCalls<Attempt>({
      timeoutMs: options.requestTimeoutMs,
      onTimeout: (call) =>
        this.#dispatcher.refuse({
          request: call,
          reply: call.reply,
          state: State.TIMEOUT,
          msg: `No answer to ${call.cmd} within ${options.requestTimeoutMs} ms`,
        }),
    });
    this.#metrics.gauge("cluster_connected", {
      help: "1 while the gate is connected to NATS",
      read: () => this.#connected ? 1 : 0,
    });
    this.#metrics.gauge("cluster_requests_in_flight", {
      help: "Requests sent to another gate and not answered yet",
      read: () => this.#calls.size,
    });
  }

  /** This gate's number. */
  get gateNumber(): number {
    return this.#gate;
  }

  /**
   * Connects to NATS (waiting for it), claims the gate number and a block of clientIds, and
   * starts hearing the other gates; returns how clientIds are handed out. Rejects with
   * {@linkcode GateNumberTakenError} when a live gate holds the number.
   */
  async start(): Promise<() => number> {
    this.#log.info("cluster mode", {
      nats: this.#options.servers.join(","),
      gateId: this.#options.gateId,
      gate: this.#gate,
      auth: this.#options.auth ? Object.keys(this.#options.auth)[0] : "none",
    });
    const nc = await this.#connectLoop({ refusedIsFatal: true });
    if (!nc) throw new Error("The gate stopped before it joined the cluster");
    const identity = new GateIdentity({
      nc,
      gate: this.#gate,
      gateId: this.#options.gateId,
      log: this.#log,
      lapseMs: this.#options.claimLapseMs,
    });
    try {
      await identity.claim();
    } catch (error) {
      await nc.close().catch(() => {});
      if (error instanceof GateNumberTakenError) {
        this.#log.error("gate number taken", { gate: this.#gate, reason: error.message });
      }
      if (error instanceof jserrors.JetStreamNotEnabled) {
        throw new Error(
          `NATS at ${nc.getServer()} has no JetStream, which the gates need for their identity: ` +
            "start nats-server with -js (or jetstream {} in its config)",
        );
      }
      throw error;
    }
    this.#identity = identity;
    this.#log.info("gate number claimed", {
      gate: this.#gate,
      epoch: identity.epoch,
      firstClientId: identity.firstId,
    });
    this.#directory.learn(await this.#knownCommands.open(nc));
    this.#knownCommands.record(this.#dispatcher.links.commands);
    this.#leaves = new LeaveStream({
      nc,
      gate: this.#gate,
      log: this.#log,
      onLeave: (leave) => tellClientLeft(this.#local, { id: leave.clientId, userId: leave.userId }),
    });
    await this.#leaves.start();
    this.#joined(nc);
    this.#timer = setInterval(() => this.#tick(), ANNOUNCE_MS);
    return () => identity.nextId();
  }

  addLink(link: Session): void {
    this.#dispatcher.addLink(link);
    this.#directory.learn(link.service?.apis ?? []);
    this.#knownCommands.record(link.service?.apis ?? []);
    this.#syncServed();
    const identity = this.#identity;
    if (identity?.previousRun && !this.#toldRestart.has(link)) {
      // The service may hold clients of this gate's earlier run (it was linked then, or to a
      // gate that did not see the restart): they are gone.
      this.#toldRestart.add(link);
      tellGateDown(this.#local, {
        gate: this.#gate,
        fromClientId: identity.lowestId,
        toClientId: identity.firstId,
      }, link);
    }
  }

  removeLink(link: Session): void {
    this.#dispatcher.removeLink(link);
    this.#syncServed();
  }

  route(from: Session, request: RequestEnvelope): void {
    stampSender(request, from);
    const cmd = request.cmd;
    const targets = this.#targets(cmd);
    if (targets === undefined) {
      this.#dispatcher.dispatch(request, from.reply);
      return;
    }
    if (targets.length === 0) {
      this.#exhausted(request, from.reply, false);
      return;
    }
    this.#attempt({ request, reply: from.reply, targets, next: 0, busy: false });
  }

  answer(link: Session, response: ResponseEnvelope): void {
    this.#dispatcher.answer(link, response);
  }

  push(clientIds: number[], text: string): number {
    const byGate = new Map<number, number[]>();
    for (const id of clientIds) {
      const gate = gateOfClient(id);
      let ids = byGate.get(gate);
      if (!ids) byGate.set(gate, ids = []);
      ids.push(id);
    }
    let reached = pushLocal(this.#local, byGate.get(this.#gate) ?? [], text);
    byGate.delete(this.#gate);
    for (const [gate, ids] of byGate) {
      if (this.#publish(controlSubject(gate), { op: "push", clientIds: ids, text })) {
        reached += ids.length;
      }
    }
    return reached;
  }

  bindUser(binding: Binding): Promise<boolean> {
    const gate = gateOfClient(binding.clientId);
    if (gate === this.#gate) return Promise.resolve(bindLocal(this.#local, binding));
    return this.#ask(gate, { op: "bind", ...binding });
  }

  unbindUser(binding: { clientId: number; userId: number }): Promise<boolean> {
    const gate = gateOfClient(binding.clientId);
    if (gate === this.#gate) return Promise.resolve(unbindLocal(this.#local, binding));
    return this.#ask(gate, { op: "unbind", ...binding });
  }

  kick(kick: { clientId: number; reason: string }): Promise<boolean> {
    const gate = gateOfClient(kick.clientId);
    if (gate === this.#gate) return Promise.resolve(kickLocal(this.#local, kick));
    return this.#ask(gate, { op: "kick", ...kick });
  }

  clientLeft(client: { id: number; userId: number }): void {
    tellClientLeft(this.#local, client);
    this.#leaves?.publish({ clientId: client.id, userId: client.userId });
  }

  health(): RouterHealth {
    if (this.#identity?.lost) {
      return {
        status: "degraded",
        reason: `Another gate took gate number ${this.#gate} over while this one was away`,
      };
    }
    return this.#connected ? { status: "ok" } : { status: "degraded", reason: this.#reason };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    // Tell the others at once, so that they need not wait for the lapse.
    if (this.#identity) this.#announce(true);
    this.#leaves?.close();
    await this.#identity?.release();
    this.#dispatcher.close();
    this.#calls.close();
    for (const call of this.#calls.takeAll()) {
      this.#dispatcher.refuse({
        request: call,
        reply: call.reply,
        state: State.SERVER_OFF,
        msg: "The gate is shutting down",
      });
    }
    await this.#nc?.close().catch(() => {});
  }

  /** The gates to try for `cmd`; undefined when only this gate's links serve it. */
  #targets(cmd: string): number[] | undefined {
    const own = this.#dispatcher.links.count(cmd);
    if (!this.#connected) return own > 0 ? undefined : [];
    return this.#directory.targets(cmd, own);
  }

  /** Tries the gates of `targets` from `next` on until one takes the request. */
  #attempt(attempt: Attempt): void {
    const { request, reply, targets } = attempt;
    while (attempt.next < targets.length) {
      const gate = targets[attempt.next++];
      if (gate !== this.#gate) {
        this.#sendTo(gate, attempt);
        return;
      }
      const pick = this.#dispatcher.pick(request.cmd);
      if (pick.link) {
        this.#dispatcher.forward({ link: pick.link, request, reply });
        return;
      }
      if (pick.state === State.SERVER_BUSY) attempt.busy = true;
    }
    this.#exhausted(request, reply, attempt.busy);
  }

  #exhausted(request: RequestEnvelope, reply: Reply, busy: boolean): void {
    const cmd = request.cmd;
    const answer = busy
      ? { state: State.SERVER_BUSY, msg: `Every service for ${cmd} is at its in-flight limit` }
      : this.#directory.knows(cmd)
      ? { state: State.SERVER_OFF, msg: `No service for ${cmd} is connected` }
      : { state: State.UNDEFINED_CMD, msg: `No service has registered ${cmd}` };
    this.#dispatcher.refuse({ request, reply, ...answer });
  }

  /** Sends a request to another gate; its refusal moves on to the next gate. */
  #sendTo(gate: number, attempt: Attempt): void {
    const nc = this.#nc;
    const { request, reply } = attempt;
    if (!nc) {
      this.#attempt(attempt);
      return;
    }
    attempt.text ??= JSON.stringify(request);
    const call = this.#calls.add({
      gate,
      cmd: request.cmd,
      msgId: request.msgId,
      reply,
      context: attempt,
    });
    nc.publish(commandSubject(gate, request.cmd), attempt.text, {
      reply: this.#inbox + call.id,
    });
  }

  /** An answer (or NATS's no-responders status) to a request this gate sent. */
  #onAnswer(msg: Msg): void {
    const call = this.#calls.take(Number(msg.subject.slice(this.#inbox.length)));
    if (!call) return;
    const attempt = call.context;
    const h = msg.headers;
    if (h) {
      if (h.hasError && h.code === NO_RESPONDERS) {
        // That gate stopped serving the command since it last said so: try the next.
        this.#attempt(attempt);
        return;
      }
      if (h.hasError) {
        this.#log.warn("cluster request failed", { gate: call.gate, status: h.code });
        this.#dispatcher.refuse({
          request: call,
          reply: call.reply,
          state: State.SERVER_OFF,
          msg: `The gate serving ${call.cmd} could not be reached`,
        });
        return;
      }
      const refused = h.get(REFUSED_HEADER);
      if (refused) {
        if (refused === "busy") attempt.busy = true;
        this.#attempt(attempt);
        return;
      }
      call.reply(msg.string(), Number(h.get(STATE_HEADER) || State.OK));
      return;
    }
    call.reply(msg.string(), State.OK);
  }

  /** A request from another gate for one of this gate's links. */
  #serve(cmd: string, msg: Msg): void {
    if (!msg.reply) return;
    let request: RequestEnvelope;
    try {
      request = msg.json<RequestEnvelope>();
    } catch {
      this.#log.warn("cluster request unreadable", { cmd });
      return;
    }
    if (
      typeof request !== "object" || request === null || request.cmd !== cmd ||
      !Number.isSafeInteger(request.msgId)
    ) {
      this.#log.warn("cluster request malformed", { cmd });
      return;
    }
    const pick = this.#dispatcher.pick(cmd);
    if (!pick.link) {
      const refusal = headers();
      refusal.set(REFUSED_HEADER, pick.state === State.SERVER_BUSY ? "busy" : "off");
      msg.respond("", { headers: refusal });
      return;
    }
    this.#dispatcher.forward({
      link: pick.link,
      request,
      reply: (text, state) => msg.respond(text, { headers: stateHeaders(state) }),
    });
  }

  /**
   * Connects to NATS, retrying every second; undefined when the router closed first. At start
   * (`refusedIsFatal`), credentials NATS refuses end the start: waiting would not mend them.
   */
  async #connectLoop(
    options: { refusedIsFatal?: boolean } = {},
  ): Promise<NatsConnection | undefined> {
    const servers = this.#options.servers;
    while (!this.#closed) {
      try {
        const nc = await connect({
          servers,
          name: `gatehouse-gate-${this.#options.gateId}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          timeout: 2000,
          authenticator: authenticator(this.#options.auth),
          // Without this the client makes two Error objects per request only to keep stack
          // traces: ~18% of a gate's CPU under load (bench/FINDINGS.md, finding 8).
          noAsyncTraces: true,
        });
        if (this.#closed) {
          await nc.close();
          return undefined;
        }
        this.#nc = nc;
        return nc;
      } catch (error) {
        if (options.refusedIsFatal && error instanceof AuthorizationError) {
          throw new Error(
            `NATS at ${servers.join(",")} refused the gate's credentials: ${
              this.#options.auth ? "check --cluster-creds" : "it needs --cluster-creds"
            }`,
          );
        }
        this.#reason = `Cannot reach NATS at ${servers.join(",")}: ${(error as Error).message}`;
        this.#log.warn("cluster unreachable", { nats: servers.join(","), error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    return undefined;
  }

  #joined(nc: NatsConnection): void {
    this.#connected = true;
    this.#log.info("cluster joined", {
      nats: nc.getServer(),
      gateId: this.#options.gateId,
      gate: this.#gate,
    });
    nc.subscribe(controlSubject(this.#gate), {
      callback: (_error, msg) => this.#onControl(msg),
    });
    this.#inbox = `${replyPrefix(this.#gate, this.#identity?.epoch ?? 0)}.`;
    nc.subscribe(`${this.#inbox}*`, {
      callback: (_error, msg) => this.#onAnswer(msg),
    });
    nc.subscribe(ANNOUNCE_SUBJECT, {
      callback: (_error, msg) => this.#onAnnounce(msg),
    });
    for (const { sub } of this.#served.values()) sub.unsubscribe();
    this.#served.clear();
    this.#syncServed();
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          this.#connected = false;
          this.#reason = `Lost NATS at ${nc.getServer()}; reconnecting`;
          this.#log.warn("cluster connection lost", { nats: nc.getServer() });
        } else if (status.type === "reconnect") {
          this.#connected = true;
          // The others could not be heard meanwhile: give them a full lapse from now.
          this.#directory.rejoined();
          this.#log.info("cluster rejoined", { nats: nc.getServer() });
          this.#announce();
        }
      }
    })().catch(() => {});
    nc.closed().then(async () => {
      this.#connected = false;
      if (this.#closed) return;
      this.#reason = "The NATS connection closed";
      this.#nc = undefined;
      this.#leaves?.close();
      const again = await this.#connectLoop();
      if (!again) return;
      this.#leaves = new LeaveStream({
        nc: again,
        gate: this.#gate,
        log: this.#log,
        onLeave: (leave) =>
          tellClientLeft(this.#local, { id: leave.clientId, userId: leave.userId }),
      });
      await this.#leaves.start().catch((error) =>
        this.#log.error("leave stream not started", { error })
      );
      this.#joined(again);
    });
    this.#announce();
  }

  /** Subscribes to each command this gate's links serve now, and drops the others. */
  /**
   * Subscribes to each command this gate's links serve now. A command no longer served keeps
   * its subscription for {@linkcode UNSUBSCRIBE_AFTER_MS}, answering "off" at once, while the
   * announce that it is gone reaches the others: a request published just as the client library
   * dropped the subscription would otherwise be lost at this gate and wait for its timeout.
   */
  #syncServed(now = Date.now()): void {
    const nc = this.#nc;
    const links = this.#dispatcher.links;
    for (const [cmd, served] of this.#served) {
      if (links.serves(cmd)) {
        served.idleSince = undefined;
        continue;
      }
      served.idleSince ??= now;
      if (now - served.idleSince < UNSUBSCRIBE_AFTER_MS) continue;
      served.sub.unsubscribe();
      this.#served.delete(cmd);
    }
    if (nc) {
      for (const cmd of links.commands) {
        if (this.#served.has(cmd)) continue;
        const sub = nc.subscribe(commandSubject(this.#gate, cmd), {
          callback: (_error, msg) => this.#serve(cmd, msg),
        });
        this.#served.set(cmd, { sub });
      }
    }
    this.#announce();
  }

  #onControl(msg: Msg): void {
    let message: ControlMessage;
    try {
      message = msg.json<ControlMessage>();
    } catch {
      return;
    }
    const result = runControl(this.#local, message);
    if (msg.reply && result !== undefined) msg.respond(JSON.stringify({ ok: result }));
  }

  #onAnnounce(msg: Msg): void {
    let announce: Announce;
    try {
      announce = msg.json<Announce>();
    } catch {
      return;
    }
    const gate = announce?.gate;
    if (!Number.isSafeInteger(gate) || gate < 1) return;
    if (gate === this.#gate) {
      if (announce.gateId !== this.#options.gateId || announce.epoch !== this.#identity?.epoch) {
        this.#log.error("gate number collision", { gate, other: announce.gateId });
      }
      return;
    }
    const gone = this.#directory.hear(announce);
    if (gone) this.#gateDown(gone);
  }

  #tick(): void {
    this.#syncServed();
    this.#identity?.refresh().catch((error) =>
      this.#log.warn("gate claim not refreshed", { error })
    );
    if (!this.#connected) return;
    for (const gone of this.#directory.lapsed()) this.#gateDown(gone);
  }

  /**
   * Another gate is gone (or its earlier run is): its requests in flight are answered
   * `SERVER_OFF`, and the services hear that its clients below `toClientId` left.
   */
  #gateDown(gone: GateGone): void {
    const { gate, reason, toClientId } = gone;
    const calls = this.#calls.takeGate(gate);
    this.#log.warn("gate down", { gate, reason, inFlight: calls.length });
    for (const call of calls) {
      this.#dispatcher.refuse({
        request: call,
        reply: call.reply,
        state: State.SERVER_OFF,
        msg: `The gate serving ${call.cmd} went away before answering`,
      });
    }
    const down: GateDown = { gate, fromClientId: gate * CLIENTS_PER_GATE, toClientId };
    tellGateDown(this.#local, down);
  }

  #announce(down = false): void {
    if (!this.#nc || !this.#connected || !this.#identity) return;
    const links = this.#dispatcher.links;
    const serves: Record<string, number> = {};
    if (!down) { for (const cmd of links.commands) serves[cmd] = links.count(cmd); }
    const announce: Announce = {
      gate: this.#gate,
      gateId: this.#options.gateId,
      epoch: this.#identity.epoch,
      firstId: this.#identity.firstId,
      serves,
      down: down || undefined,
    };
    this.#publish(ANNOUNCE_SUBJECT, announce);
  }

  #publish(subject: string, message: unknown): boolean {
    if (!this.#nc || !this.#connected) return false;
    this.#nc.publish(subject, JSON.stringify(message));
    return true;
  }

  async #ask(gate: number, message: ControlMessage): Promise<boolean> {
    if (!this.#nc || !this.#connected) return false;
    try {
      const reply = await this.#nc.request(controlSubject(gate), JSON.stringify(message), {
        timeout: Math.min(2000, this.#options.requestTimeoutMs),
      });
      return reply.json<{ ok: boolean }>().ok === true;
    } catch (error) {
      if (!isNoResponders(error) && !(error instanceof TimeoutError)) {
        this.#log.warn("cluster control failed", { gate, op: message.op, error });
      }
      return false;
    }
  }
}

/** One request on its way through the gates that serve its command. */
interface Attempt {
  request: RequestEnvelope;
  reply: Reply;
  targets: number[];
  next: number;
  /** Whether a gate tried so far was busy. */
  busy: boolean;
  /** The request's JSON, made once for every gate tried. */
  text?: string;
}

/** The status code of NATS's "no responders" answer. */
const NO_RESPONDERS = 503;

/** Whether a NATS request failed because no one subscribes to the subject. */
function isNoResponders(error: unknown): boolean {
  return error instanceof NoRespondersError ||
    (error instanceof RequestError && error.isNoResponders());
}

/** The header of a service answer: its state when not OK, none when OK. */
function stateHeaders(state: number): MsgHdrs | undefined {
  if (state === State.OK) return undefined;
  const h = headers();
  h.set(STATE_HEADER, String(state));
  return h;
}
