/**
 * The single-node {@linkcode Router}: service links and clients of this gate only. The
 * session-level operations (bind, unbind, kick, push, client-leave) live here as functions that
 * the cluster router calls for its own gate's clients, so the two never differ.
 *
 * @module
 */

import {
  GateCmd,
  type GateDown,
  type KeyClaim,
  type KeyNotifyChange,
  makePush,
  type RequestEnvelope,
  type ResponseEnvelope,
} from "../../shared/mod.ts";
import type { ClaimOutcome, HeldKey } from "./key_directory.ts";
import { CloseCode } from "./connection.ts";
import type { Connections } from "./connections.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";
import type { GateMetrics } from "./metrics.ts";
import type { Binding, Router, RouterHealth } from "./router.ts";
import type { ServiceInfo, Session } from "./session.ts";

/**
 * Sets the fields a service may trust: the sender's clientId, address, bound user and its
 * username, and whether it is a service link. Whatever the sender wrote there is overwritten;
 * `userName` is removed when no username is bound.
 */
export function stampSender(request: RequestEnvelope, from: Session): void {
  request.clientId = from.id;
  request.clientAddr = from.clientAddr;
  request.userId = from.userId;
  if (from.userName !== undefined && from.userId !== 0) request.userName = from.userName;
  else delete request.userName;
  request.is_ss_link = from.service !== undefined;
}

/** A user was bound to a client of this gate, or its binding ended with the client open. */
export interface BindingChange {
  kind: "bind" | "unbind";
  clientId: number;
  userId: number;
}

/** What the session-level operations of one gate need. */
export interface LocalSessions {
  connections: Connections;
  dispatcher: LinkDispatcher;
  metrics: GateMetrics;
  /**
   * Hears each binding change of this gate's clients once this gate's links were told, in the
   * order they happened (the cluster router sends them on to the other gates).
   */
  onBindingChange?(change: BindingChange): void;
}

/** Pushes one text to those of `clientIds` connected to this gate; returns how many. */
export function pushLocal(local: LocalSessions, clientIds: number[], text: string): number {
  let reached = 0;
  for (const id of clientIds) {
    const client = local.connections.get(id);
    if (!client || client.conn.closed) continue;
    local.dispatcher.send(client.conn, text);
    reached++;
  }
  local.metrics.inc("pushes_total", undefined, reached);
  return reached;
}

/**
 * Binds a user to a client of this gate; false when it is not connected. A binding of another
 * user that it replaces ends: that is told first (`ss_msg_user_unbind`), then the new one.
 */
export function bindLocal(local: LocalSessions, binding: Binding): boolean {
  const client = local.connections.get(binding.clientId);
  if (!client || client.conn.closed) return false;
  const replaced = client.userId;
  client.userId = binding.userId;
  client.token = binding.token;
  client.userName = binding.username;
  if (replaced !== 0 && replaced !== binding.userId) {
    bindingChanged(local, { kind: "unbind", clientId: binding.clientId, userId: replaced });
  }
  bindingChanged(local, { kind: "bind", clientId: binding.clientId, userId: binding.userId });
  return true;
}

/**
 * Unbinds a user from a client of this gate when it is bound to that user, and tells it
 * (`ss_msg_user_unbind`; the connection stays open). User 0 of an unbound client: true, nothing
 * to tell.
 */
export function unbindLocal(
  local: LocalSessions,
  binding: { clientId: number; userId: number },
): boolean {
  const client = local.connections.get(binding.clientId);
  if (!client || client.userId !== binding.userId) return false;
  if (binding.userId === 0) return true;
  client.userId = 0;
  client.token = undefined;
  client.userName = undefined;
  bindingChanged(local, { kind: "unbind", clientId: binding.clientId, userId: binding.userId });
  return true;
}

/** Pushes `sc_msg_kicked` to a client of this gate, then closes it. */
export function kickLocal(
  local: LocalSessions,
  kick: { clientId: number; reason: string },
): boolean {
  const client = local.connections.get(kick.clientId);
  if (!client || client.conn.closed) return false;
  client.conn.sendText(JSON.stringify(makePush(GateCmd.KICKED, { reason: kick.reason })));
  client.conn.close(`Kicked: ${kick.reason}`, CloseCode.POLICY);
  return true;
}

/**
 * Closes every client connection of this gate (not the service links) whose id is below
 * `below`, with `reason` (WebSocket close 1013, try again later); returns how many.
 */
export function closeClientsBelow(
  local: LocalSessions,
  options: { below: number; reason: string },
): number {
  let closed = 0;
  for (const session of [...local.connections.values()]) {
    if (session.service || session.id >= options.below || session.conn.closed) continue;
    session.conn.close(options.reason, CloseCode.TRY_AGAIN_LATER);
    closed++;
  }
  return closed;
}

/** Tells this gate's links that asked that a client (of any gate) left. */
export function tellClientLeft(
  local: LocalSessions,
  client: { id: number; userId: number },
): void {
  local.dispatcher.tell(
    GateCmd.CLIENT_LEAVE,
    JSON.stringify(makePush(GateCmd.CLIENT_LEAVE, { clientId: client.id, userId: client.userId })),
  );
}

/** The gate event that tells of each kind of binding change. */
const BINDING_EVENTS = { bind: GateCmd.USER_BIND, unbind: GateCmd.USER_UNBIND } as const;

/**
 * Tells this gate's links that asked that a user was bound to a client (of any gate), or that the
 * binding ended (`ss_msg_user_bind`, `ss_msg_user_unbind`).
 */
export function tellBindingChange(local: LocalSessions, change: BindingChange): void {
  const cmd = BINDING_EVENTS[change.kind];
  local.dispatcher.tell(
    cmd,
    JSON.stringify(makePush(cmd, { clientId: change.clientId, userId: change.userId })),
  );
}

/** A binding of this gate's client changed: its links that asked hear it, then the hook. */
function bindingChanged(local: LocalSessions, change: BindingChange): void {
  tellBindingChange(local, change);
  local.onBindingChange?.(change);
}

/**
 * Tells this gate's links that hear client leaves (or listed `ss_msg_gate_down`) that a gate went
 * down: every client in the range left. `only` limits it to one link.
 */
export function tellGateDown(local: LocalSessions, down: GateDown, only?: Session): void {
  const text = JSON.stringify(makePush(GateCmd.GATE_DOWN, down));
  const told = new Set<Session>();
  for (const event of [GateCmd.CLIENT_LEAVE, GateCmd.GATE_DOWN]) {
    for (const link of local.dispatcher.links.listeners(event)) {
      if (told.has(link.session) || (only && link.session !== only)) continue;
      told.add(link.session);
      local.dispatcher.send(link.session.conn, text);
    }
  }
}

/**
 * Tells the clientIds of keys lost with their link (it went away holding them) with each key's
 * notify push, through `push` (this gate's clients, or the cluster's); returns how many keys.
 */
export function tellKeysLost(
  lost: HeldKey<unknown>[],
  push: (clientIds: number[], text: string) => void,
): number {
  for (const held of lost) {
    const notify = held.notify;
    if (!notify || notify.clientIds.size === 0) continue;
    push([...notify.clientIds], JSON.stringify(makePush(notify.cmd, notify.data)));
  }
  return lost.length;
}

/** Claims a key for a link of this gate in its key space (its type). */
export function claimLocal(local: LocalSessions, link: Session, claim: KeyClaim): ClaimOutcome {
  const owner = local.dispatcher.links.linkOf(link);
  if (!owner || !link.service) {
    return { ok: false, msg: "Only a registered service link may claim keys" };
  }
  return local.dispatcher.keys.claim({
    space: link.service.type,
    key: claim.key,
    owner,
    notify: claim.notify,
  });
}

/** Changes the notify clientIds of a key a link of this gate holds. */
export function notifyLocal(local: LocalSessions, link: Session, change: KeyNotifyChange): boolean {
  const owner = local.dispatcher.links.linkOf(link);
  if (!owner || !link.service) return false;
  return local.dispatcher.keys.notify({ space: link.service.type, owner, ...change });
}

/** Releases a key a link of this gate holds; returns it, or undefined. */
export function releaseLocal(
  local: LocalSessions,
  link: Session,
  key: string,
): HeldKey<unknown> | undefined {
  const owner = local.dispatcher.links.linkOf(link);
  if (!owner || !link.service) return undefined;
  return local.dispatcher.keys.release({ space: link.service.type, key, owner });
}

/** The service types of this gate's links. */
export function linkedTypes(dispatcher: LinkDispatcher): Set<string> {
  const types = new Set<string>();
  for (const link of dispatcher.links.all()) {
    if (link.session.service) types.add(link.session.service.type);
  }
  return types;
}

/** Routes within one gate. */
export class LocalRouter implements Router {
  #local: LocalSessions;

  constructor(local: LocalSessions) {
    this.#local = local;
  }

  addLink(link: Session): void {
    this.#local.dispatcher.addLink(link);
  }

  removeLink(link: Session): void {
    const lost = this.#local.dispatcher.removeLink(link);
    tellKeysLost(lost, (ids, text) => pushLocal(this.#local, ids, text));
  }

  routeConflict(link: Session, service: ServiceInfo): string | undefined {
    return this.#local.dispatcher.links.routeConflict(link, service);
  }

  claimKey(link: Session, claim: KeyClaim): Promise<ClaimOutcome> {
    return Promise.resolve(claimLocal(this.#local, link, claim));
  }

  notifyKey(link: Session, change: KeyNotifyChange): Promise<boolean> {
    return Promise.resolve(notifyLocal(this.#local, link, change));
  }

  releaseKey(link: Session, key: string): Promise<boolean> {
    return Promise.resolve(releaseLocal(this.#local, link, key) !== undefined);
  }

  route(from: Session, request: RequestEnvelope): void {
    stampSender(request, from);
    this.#local.dispatcher.dispatch(request, from.reply);
  }

  answer(link: Session, response: ResponseEnvelope, text?: string): void {
    this.#local.dispatcher.answer(link, response, text);
  }

  push(clientIds: number[], text: string): number {
    return pushLocal(this.#local, clientIds, text);
  }

  bindUser(binding: Binding): Promise<boolean> {
    return Promise.resolve(bindLocal(this.#local, binding));
  }

  unbindUser(binding: { clientId: number; userId: number }): Promise<boolean> {
    return Promise.resolve(unbindLocal(this.#local, binding));
  }

  kick(kick: { clientId: number; reason: string }): Promise<boolean> {
    return Promise.resolve(kickLocal(this.#local, kick));
  }

  clientLeft(client: { id: number; userId: number }): void {
    tellClientLeft(this.#local, client);
  }

  knows(cmd: string): boolean {
    return this.#local.dispatcher.links.everServed(cmd);
  }

  serviceTypes(): Set<string> {
    return linkedTypes(this.#local.dispatcher);
  }

  /** Single node is always healthy while running. */
  health(): RouterHealth {
    return { status: "ok" };
  }

  close(): Promise<void> {
    this.#local.dispatcher.close();
    return Promise.resolve();
  }
}
