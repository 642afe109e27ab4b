/**
 * The cluster {@linkcode Router}: gates joined over NATS (DESIGN.md, "Cluster mode"). It is the
 * same {@linkcode LinkDispatcher} as a single gate, plus NATS; each concept has its own file:
 *
 * - cluster_nats.ts: the connection to NATS (retried until it works).
 * - cluster_serving.ts: one subscription per command this gate's links serve
 *   (`gatehouse.g.<gate>.c.<cmd>`), whose handler picks among the gate's links.
 * - cluster_requests.ts: the gate a request enters picks the gate that serves it and matches the
 *   answer; a busy gate is skipped cluster-wide; `SERVER_OFF` / `UNDEFINED_CMD` when none is left.
 * - gate_directory.ts: what the other gates serve, from their announcements (every second and at
 *   once on a change; also their heartbeat), and which are down.
 * - cluster_control.ts: pushes, kicks and user bindings for a client on another gate go to that
 *   gate's control subject, one message per gate for a push to many clients.
 * - gate_identity.ts: the gate claims its number in a KV bucket and refuses to start when a live
 *   gate holds it; its clientIds come from blocks never used before. A gate not heard for
 *   `GATE_LAPSE_MS`, or heard again with another epoch, is down: its requests in flight are
 *   answered `SERVER_OFF` at once, and every service that hears client leaves gets
 *   `ss_msg_gate_down` with the range of clientIds that left.
 * - client_event_stream.ts: client leaves and user bindings reach the other gates' services
 *   through a JetStream stream, so a NATS restart loses none.
 *
 * While NATS is unreachable the gate serves its own links and reports `degraded`; the NATS client
 * reconnects by itself.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import type {
  GateDown,
  KeyClaim,
  KeyNotifyChange,
  RequestEnvelope,
  ResponseEnvelope,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { CLIENTS_PER_GATE, gateNumber } from "./cluster_ids.ts";
import { replyPrefix } from "./cluster_subjects.ts";
import { GateIdentity } from "./gate_identity.ts";
import type { ClusterAuth } from "./cluster_auth.ts";
import { Announcements } from "./cluster_announce.ts";
import { GateControl } from "./cluster_control.ts";
import { connectNats } from "./cluster_nats.ts";
import { ClusterRequests } from "./cluster_requests.ts";
import { ServedCommands } from "./cluster_serving.ts";
import { ANNOUNCE_MS, GateDirectory, type GateGone } from "./gate_directory.ts";
import { KnownCommands } from "./known_commands.ts";
import { type ClientEvent, ClientEventStream } from "./client_event_stream.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";
import {
  closeClientsBelow,
  linkedTypes,
  type LocalSessions,
  stampSender,
  tellBindingChange,
  tellClientLeft,
  tellGateDown,
} from "./local_router.ts";
import type { GateMetrics } from "./metrics.ts";
import type { Binding, Router, RouterHealth } from "./router.ts";
import type { ServiceInfo, Session } from "./session.ts";
import { ClusterKeys } from "./cluster_keys.ts";
import { ClusterKeyRoutes } from "./cluster_key_routes.ts";
import type { ClaimOutcome } from "./key_directory.ts";

/** Why a gate declared down by the others closes its clients (WebSocket close reason). */
export const CUT_OFF_REASON = "The gate was cut off from the cluster: connect again and log in";

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
  #served: ServedCommands;
  #directory: GateDirectory;
  #requests: ClusterRequests;
  #control: GateControl;
  #announcements: Announcements;
  #keys: ClusterKeys;
  #keyRoutes: ClusterKeyRoutes;
  #timer?: ReturnType<typeof setInterval>;
  #closed = false;
  #identity?: GateIdentity;
  #knownCommands: KnownCommands;
  #events?: ClientEventStream;
  /** Links already told that this gate's earlier runs are gone. */
  #toldRestart = new WeakSet<Session>();
  /** Whether a new run is being started after the others declared this gate down. */
  #renewing = false;

  constructor(options: ClusterRouterOptions) {
    this.#options = options;
    // This gate's binding changes go to the other gates too, on the client event stream.
    this.#local = {
      ...options.local,
      onBindingChange: (change) => this.#events?.publish(change),
    };
    this.#dispatcher = options.local.dispatcher;
    this.#metrics = options.local.metrics;
    this.#log = options.log;
    this.#gate = gateNumber(options.gateId);
    this.#knownCommands = new KnownCommands({ log: options.log });
    this.#directory = new GateDirectory({ self: this.#gate });
    this.#served = new ServedCommands({
      gate: this.#gate,
      dispatcher: this.#dispatcher,
      log: this.#log,
      readsBatches: (gate) => this.#directory.readsBatches(gate),
    });
    this.#requests = new ClusterRequests({
      gate: this.#gate,
      dispatcher: this.#dispatcher,
      directory: this.#directory,
      metrics: this.#metrics,
      log: this.#log,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.#control = new GateControl({
      gate: this.#gate,
      local: this.#local,
      log: this.#log,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.#keys = new ClusterKeys({ log: this.#log });
    this.#keyRoutes = new ClusterKeyRoutes({
      gate: this.#gate,
      local: this.#local,
      requests: this.#requests,
      directory: this.#directory,
      keys: this.#keys,
      log: this.#log,
      push: (clientIds, text) => this.push(clientIds, text),
      epoch: () => this.#identity?.epoch ?? 0,
    });
    this.#metrics.gauge("cluster_keys", {
      help: "Keys of the cluster's key directory (route by key) this gate knows of",
      read: () => this.#keys.size,
    });
    this.#announcements = new Announcements({
      routes: () => this.#keyRoutes.routes(),
      gate: this.#gate,
      gateId: options.gateId,
      dispatcher: this.#dispatcher,
      directory: this.#directory,
      log: this.#log,
      run: () => this.#identity,
      onGone: (gone) => this.#gateDown(gone),
    });
    this.#metrics.gauge("cluster_connected", {
      help: "1 while the gate is connected to NATS",
      read: () => this.#connected ? 1 : 0,
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
    const nc = await this.#connect({ refusedIsFatal: true });
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
    await this.#startEvents(nc);
    await this.#keys.open(nc);
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
    this.#keyRoutes.linkGone(this.#dispatcher.removeLink(link));
    this.#syncServed();
  }

  routeConflict(link: Session, service: ServiceInfo): string | undefined {
    return this.#dispatcher.links.routeConflict(link, service);
  }

  claimKey(link: Session, claim: KeyClaim): Promise<ClaimOutcome> {
    return this.#keyRoutes.claim(link, claim);
  }

  notifyKey(link: Session, change: KeyNotifyChange): Promise<boolean> {
    return Promise.resolve(this.#keyRoutes.notify(link, change));
  }

  releaseKey(link: Session, key: string): Promise<boolean> {
    return Promise.resolve(this.#keyRoutes.release(link, key));
  }

  route(from: Session, request: RequestEnvelope): void {
    stampSender(request, from);
    if (!this.#keyRoutes.route(request, from.reply)) this.#requests.route(request, from.reply);
  }

  answer(link: Session, response: ResponseEnvelope, text?: string): void {
    this.#dispatcher.answer(link, response, text);
  }

  push(clientIds: number[], text: string): number {
    return this.#control.push(clientIds, text);
  }

  bindUser(binding: Binding): Promise<boolean> {
    return this.#control.bind(binding);
  }

  unbindUser(binding: { clientId: number; userId: number }): Promise<boolean> {
    return this.#control.unbind(binding);
  }

  kick(kick: { clientId: number; reason: string }): Promise<boolean> {
    return this.#control.kick(kick);
  }

  clientLeft(client: { id: number; userId: number }): void {
    tellClientLeft(this.#local, client);
    this.#events?.publish({ kind: "leave", clientId: client.id, userId: client.userId });
  }

  knows(cmd: string): boolean {
    return this.#dispatcher.links.everServed(cmd) || this.#directory.knows(cmd);
  }

  serviceTypes(): Set<string> {
    const types = linkedTypes(this.#dispatcher);
    if (this.#connected) { for (const type of this.#directory.types()) types.add(type); }
    return types;
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
    if (this.#identity) this.#announcements.announce(true);
    this.#events?.close();
    this.#keys.close();
    await this.#identity?.release();
    this.#dispatcher.close();
    // The answers of the last turn (and the SERVER_OFF ones just made) leave before NATS closes.
    this.#served.flush();
    this.#requests.close();
    await this.#nc?.close().catch(() => {});
  }

  #setConnected(connected: boolean): void {
    this.#connected = connected;
    this.#requests.connected = connected;
    this.#control.connected = connected;
    this.#announcements.connected = connected;
    this.#keyRoutes.connected = connected;
  }

  /** Connects to NATS (see {@linkcode connectNats}) and keeps the connection. */
  async #connect(options: { refusedIsFatal?: boolean } = {}): Promise<NatsConnection | undefined> {
    const nc = await connectNats({
      servers: this.#options.servers,
      gateId: this.#options.gateId,
      auth: this.#options.auth,
      log: this.#log,
      stopped: () => this.#closed,
      onUnreachable: (reason) => this.#reason = reason,
      refusedIsFatal: options.refusedIsFatal,
    });
    if (nc) this.#nc = nc;
    return nc;
  }

  /**
   * Starts the client event stream on a (new) connection, reading on from where the previous
   * one stopped (so that nothing sent while the connection was replaced is missed) and sending
   * what the previous one had not got acknowledged.
   */
  async #startEvents(nc: NatsConnection): Promise<void> {
    this.#events = new ClientEventStream({
      nc,
      gate: this.#gate,
      log: this.#log,
      onEvent: (event) => this.#onClientEvent(event),
      onDeclaredDown: (epoch) => this.#declaredDown(epoch),
      resume: this.#events,
    });
    await this.#events.start();
  }

  /**
   * The other gates declared this one down (it was cut off from NATS past the lapse) while its
   * run was `epoch`: the services dropped its clients from everything they held for them. So
   * that its users see that too, instead of connections that silently lost their groups, the
   * gate starts a new run (a new block of clientIds) and closes every client connection of the
   * old one, saying why; the clients connect again and log in by token. Service links stay.
   */
  async #declaredDown(epoch: number): Promise<void> {
    const identity = this.#identity;
    if (!identity || epoch !== identity.epoch || this.#renewing || this.#closed) return;
    this.#renewing = true;
    this.#log.warn("declared down by the cluster", { gate: this.#gate, epoch });
    try {
      await identity.renew();
    } catch (error) {
      this.#log.error("new clientId block not taken", { error });
    } finally {
      this.#renewing = false;
    }
    const closed = closeClientsBelow(this.#local, {
      below: identity.firstId,
      reason: CUT_OFF_REASON,
    });
    this.#log.warn("clients closed after a cut-off", {
      closed,
      epoch: identity.epoch,
      firstClientId: identity.firstId,
    });
    // Its links stayed, with their keys: the others released those; claim them again.
    this.#keyRoutes.renewed();
    this.#announcements.announce();
  }

  /** Another gate's client left, was bound or unbound: this gate's links that asked hear it. */
  #onClientEvent(event: ClientEvent): void {
    if (event.kind === "leave") {
      tellClientLeft(this.#local, { id: event.clientId, userId: event.userId });
    } else {
      tellBindingChange(this.#local, {
        kind: event.kind,
        clientId: event.clientId,
        userId: event.userId,
      });
    }
  }

  #joined(nc: NatsConnection): void {
    this.#setConnected(true);
    this.#log.info("cluster joined", {
      nats: nc.getServer(),
      gateId: this.#options.gateId,
      gate: this.#gate,
    });
    this.#control.attach(nc);
    this.#requests.attach(nc, `${replyPrefix(this.#gate, this.#identity?.epoch ?? 0)}.`);
    this.#announcements.attach(nc);
    this.#served.attach(nc);
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          this.#setConnected(false);
          this.#reason = `Lost NATS at ${nc.getServer()}; reconnecting`;
          this.#log.warn("cluster connection lost", { nats: nc.getServer() });
        } else if (status.type === "reconnect") {
          this.#setConnected(true);
          // The others could not be heard meanwhile: give them a full lapse from now.
          this.#directory.rejoined();
          this.#log.info("cluster rejoined", { nats: nc.getServer() });
          this.#announcements.announce();
        }
      }
    })().catch(() => {});
    nc.closed().then(() => this.#replace());
    this.#announcements.announce();
  }

  /**
   * The NATS connection closed for good (the client gave up on it, e.g. after NATS refused its
   * credentials twice): connects anew and moves everything onto the new connection object — the
   * claim's refresh and the clientId blocks, the record of commands, the event stream (read on
   * from where the old one stopped) and the subscriptions.
   */
  async #replace(): Promise<void> {
    this.#setConnected(false);
    if (this.#closed) return;
    this.#reason = "The NATS connection closed";
    this.#nc = undefined;
    this.#events?.close();
    this.#log.warn("cluster connection closed, connecting anew", {});
    const again = await this.#connect();
    if (!again) return;
    try {
      await this.#identity?.use(again);
      this.#directory.learn(await this.#knownCommands.open(again));
      this.#knownCommands.record(this.#dispatcher.links.commands);
      await this.#startEvents(again);
      await this.#keys.open(again);
    } catch (error) {
      this.#log.error("cluster state not moved to the new NATS connection", { error });
    }
    this.#joined(again);
  }

  /** Subscribes to each command this gate's links serve now, and tells the others. */
  #syncServed(now = Date.now()): void {
    this.#served.sync(now);
    this.#announcements.announce();
  }

  #tick(): void {
    this.#syncServed();
    this.#identity?.refresh().catch((error) =>
      this.#log.warn("gate claim not refreshed", { error })
    );
    this.#announcements.checkLapses();
    if (this.#connected) this.#keyRoutes.sweep();
  }

  /**
   * Another gate is gone (or its earlier run is): its requests in flight are answered
   * `SERVER_OFF`, and the services hear that its clients below `toClientId` left.
   */
  #gateDown(gone: GateGone): void {
    const { gate, reason, toClientId } = gone;
    const inFlight = this.#requests.gateDown(gate);
    this.#log.warn("gate down", { gate, reason, inFlight });
    // That gate may be alive but cut off: it reads this when it is back, and starts over.
    if (reason === "no heartbeat") this.#events?.declareDown({ gate, epoch: gone.epoch });
    const down: GateDown = { gate, fromClientId: gate * CLIENTS_PER_GATE, toClientId };
    tellGateDown(this.#local, down);
    this.#keyRoutes.sweep(gone);
  }
}
