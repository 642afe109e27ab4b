/**
 * The group service's commands (DESIGN.md, "The services": group) and the pushes they cause.
 * Every command needs a logged-in user or a service link (`NOT_LOGGED_IN` otherwise), checks its
 * fields (`BAD_REQUEST` with a sentence naming the field), and changes {@linkcode GroupRegistry}
 * at once; the members to tell get one `ss_msg_push` per event, with all their clientIds.
 *
 * Answers:
 * - `cs_msg_group_create` {groupId?, key?, name? (service links only)} → {groupId, key, owner}
 * - `cs_msg_group_join` {groupId, key, name? (service links only)} → {groupId, owner, members,
 *   joined}
 * - `cs_msg_group_leave` {groupId} → {groupId, ended}
 * - `cs_msg_group_send` {groupId, data} → {groupId, time, reached}
 * - `cs_msg_group_members` {groupId} → {groupId, owner, members: [{userId, clientId, joinedAt,
 *   name?}]}
 * - `cs_msg_group_dismiss` {groupId} → {groupId, members}
 * - `cs_msg_group_list` {} → {groups: [{groupId, owner, members, isOwner}]}
 *
 * Membership is per connection and user (see {@linkcode GroupRegistry}); the list command
 * answers the asking connection's groups. `owner` is {userId, clientId, name?}. A user's `name`
 * is its username as the gate stamped it (`userName`, from the login binding), never what the
 * client wrote; a user that gives `name` is refused (`BAD_REQUEST`). Only a service link, which
 * has no user, may give `name` in create and join (the username rule) to be shown by it; without
 * it a service link has no name. Every shape here is declared in shared/group_messages.ts.
 * Pushes (to every member but the connection that caused them):
 * - `sc_msg_group_msg` {groupId, fromUserId, fromClientId, fromName?, data, time}
 * - `sc_msg_group_join` {groupId, userId, clientId, name?, joinedAt, members}
 * - `sc_msg_group_leave` {groupId, userId, clientId, name?, reason: "left" | "disconnected",
 *   owner, members}; `owner` is the owner after the departure (a new one when the owner left)
 * - `sc_msg_group_dismiss` {groupId, byUserId, byClientId, byName?}
 * - `sc_msg_group_away` and `sc_msg_group_back`: a dropped member keeps its place for the
 *   reconnect grace period (`reconnectGraceMs`; see reconnect_grace.ts and grace_pushes.ts)
 *
 * The fields are checked in group_fields.ts; the pushes go out through group_pushes.ts.
 *
 * @example
 * ```ts ignore
 * const groups = new GroupService({ registry, gate: serviceClient, log, maxDataBytes: 16384 });
 * groups.install(serviceClient);
 * ```
 * @module
 */

import {
  type ClientLeave,
  type ServiceClient,
  ServiceError,
  type ServiceRequest,
} from "../../client/mod.ts";
import {
  type GateDown,
  GroupCmd,
  State,
  type UserBind,
  type UserUnbind,
} from "../../shared/mod.ts";
import type {
  GroupCreated,
  GroupDismissPush,
  GroupInfo,
  GroupJoinAnswer,
  GroupJoinPush,
  GroupListEntry,
  GroupMessagePush,
  GroupSent,
} from "../../shared/group_messages.ts";
import type { Logger } from "../log.ts";
import { newGroupId } from "./group_ids.ts";
import { GROUP_ROUTES, type GroupKeys } from "./group_keys.ts";
import type { GroupRegistry } from "./group_registry.ts";
import { tellGraceOutcome } from "./grace_pushes.ts";
import { callerOf, FieldError, groupIdField, keyField, objectData } from "./group_fields.ts";
import { defined, type GroupGate, GroupPushes } from "./group_pushes.ts";
import { ReconnectGrace } from "./reconnect_grace.ts";

export type { GroupGate } from "./group_pushes.ts";

/** What the service counts, for `/metrics` (server/group/main.ts). */
export interface GroupServiceMetrics {
  /** A group was created. */
  created(): void;
  /** A member sent a message to `recipients` other members. */
  sent(recipients: number): void;
}

/** Options of {@linkcode GroupService}. */
export interface GroupServiceOptions {
  /** The groups. */
  registry: GroupRegistry;
  /** Where pushes go. */
  gate: GroupGate;
  /** Where notable events are written. */
  log: Logger;
  /** Largest `data` of `cs_msg_group_send`, in bytes of its JSON. */
  maxDataBytes: number;
  /** How long a dropped member keeps its place, ms (reconnect_grace.ts); default 0: off. */
  reconnectGraceMs?: number;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /** Counts events for `/metrics`; none by default. */
  metrics?: GroupServiceMetrics;
  /**
   * Claims group ids at the gate, so that the service runs as N instances (group_keys.ts); a
   * single instance of its own without it.
   */
  keys?: GroupKeys;
}

const encoder = new TextEncoder();

/** Serves the group commands and tells members what happens to their groups. */
export class GroupService {
  #registry: GroupRegistry;
  #gate: GroupGate;
  #pushes: GroupPushes;
  #log: Logger;
  #maxDataBytes: number;
  #grace: ReconnectGrace;
  #now: () => number;
  #metrics?: GroupServiceMetrics;
  #keys?: GroupKeys;

  /** A service over a registry; {@linkcode install} it on a `ServiceClient`. */
  constructor(options: GroupServiceOptions) {
    this.#registry = options.registry;
    this.#gate = options.gate;
    this.#log = options.log;
    this.#pushes = new GroupPushes(options);
    this.#maxDataBytes = options.maxDataBytes;
    this.#grace = new ReconnectGrace({
      registry: options.registry,
      graceMs: options.reconnectGraceMs ?? 0,
      onExpired: ({ clientId, departures }) => {
        this.#log.info("group grace ended", { clientId, groups: departures.length });
        for (const departure of departures) this.#pushes.departed(departure, "disconnected");
      },
    });
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics;
    this.#keys = options.keys;
  }

  /**
   * Registers the commands, the client-leave and user-unbind handlers and (with a grace period)
   * the user-bind handler on a service client, and drops every group when the connection to the
   * gate is lost (see {@linkcode gateLost}).
   */
  install(service: ServiceClient): void {
    // With keys, the gate routes each group's commands to the instance holding it.
    const routed = (cmd: string) => ({ route: this.#keys ? GROUP_ROUTES.get(cmd) : undefined });
    service
      .handle(
        GroupCmd.CREATE,
        (request) => this.#keys ? this.createClaimed(request) : this.create(request),
      )
      .handle(GroupCmd.JOIN, (request) => this.join(request), routed(GroupCmd.JOIN))
      .handle(GroupCmd.LEAVE, (request) => this.leave(request), routed(GroupCmd.LEAVE))
      .handle(GroupCmd.SEND, (request) => this.send(request), routed(GroupCmd.SEND))
      .handle(GroupCmd.MEMBERS, (request) => this.members(request), routed(GroupCmd.MEMBERS))
      .handle(GroupCmd.DISMISS, (request) => this.dismiss(request), routed(GroupCmd.DISMISS))
      .handle(GroupCmd.LIST, (request) => this.list(request), routed(GroupCmd.LIST))
      .onClientLeave((leave) => this.clientLeft(leave))
      .onUserUnbind((unbind) => this.clientUnbound(unbind))
      .onGateDown((down) => this.gateDown(down));
    if (this.#grace.graceMs > 0) service.onUserBind((bind) => this.clientBound(bind));
    service.onState((state) => {
      if (state === "disconnected") this.gateLost();
    });
  }

  /** How many dropped connections have members waiting for their user (the grace period). */
  get awayConnections(): number {
    return this.#grace.waiting;
  }

  /** `cs_msg_group_create` {groupId?, key?, name? (links)} → {groupId, key, owner}. */
  create(request: ServiceRequest): GroupCreated {
    const data = objectData(request.data);
    const caller = callerOf(request, data);
    const groupId = data.groupId === undefined || data.groupId === null
      ? undefined
      : groupIdField(data);
    const key = data.key === undefined || data.key === null ? undefined : keyField(data);
    const created = this.#registry.create({ caller, groupId, key });
    this.#metrics?.created();
    this.#log.info("group created", {
      groupId: created.groupId,
      userId: caller.userId,
      clientId: caller.clientId,
      assignedId: groupId === undefined,
      groups: this.#registry.size,
    });
    return created;
  }

  /**
   * `cs_msg_group_create` with keys (N instances): the group id, given or assigned, is claimed
   * at the gate first, so that an id held by another instance, here or on another gate, is
   * refused "Group <id> already exists" like one held here.
   */
  async createClaimed(request: ServiceRequest): Promise<GroupCreated> {
    const keys = this.#keys!;
    const data = objectData(request.data);
    const caller = callerOf(request, data);
    const given = data.groupId === undefined || data.groupId === null
      ? undefined
      : groupIdField(data);
    const key = data.key === undefined || data.key === null ? undefined : keyField(data);
    let groupId = given;
    if (groupId !== undefined) {
      if (this.#registry.peek(groupId) || !(await keys.claim(groupId))) {
        throw new ServiceError(State.FAIL, `Group ${groupId} already exists`);
      }
    } else {
      // 96 random bits: a second try is already next to impossible.
      for (let tries = 0; groupId === undefined; tries++) {
        const id = newGroupId();
        if (!this.#registry.peek(id) && await keys.claim(id)) groupId = id;
        else if (tries >= 4) throw new ServiceError(State.FAIL, "No free group id was found");
      }
    }
    let created: GroupCreated;
    try {
      created = this.#registry.create({ caller, groupId, key });
    } catch (error) {
      // Another create of the id here won meanwhile: the claim is that group's.
      if (!this.#registry.peek(groupId)) keys.ended(groupId);
      throw error;
    }
    keys.joined(groupId, caller.clientId);
    this.#metrics?.created();
    this.#log.info("group created", {
      groupId,
      userId: caller.userId,
      clientId: caller.clientId,
      assignedId: given === undefined,
      groups: this.#registry.size,
    });
    return created;
  }

  /** `cs_msg_group_join` {groupId, key, name? (links)} → {groupId, owner, members, joined}. */
  join(request: ServiceRequest): GroupJoinAnswer {
    const data = objectData(request.data);
    const caller = callerOf(request, data);
    const groupId = groupIdField(data);
    const key = keyField(data);
    let outcome;
    try {
      outcome = this.#registry.join({ caller, groupId, key });
    } catch (error) {
      if (error instanceof ServiceError && error.state === State.FORBIDDEN) {
        this.#log.warn("group key refused", {
          groupId,
          userId: caller.userId,
          clientId: caller.clientId,
        });
      }
      throw error;
    }
    if (outcome.joined) {
      const { member, group } = outcome;
      this.#log.info("group joined", {
        groupId,
        userId: member.userId,
        clientId: member.clientId,
        members: group.members.length,
      });
      const push: GroupJoinPush = { groupId, ...member, members: group.members.length };
      this.#pushes.tell(outcome.others, GroupCmd.JOINED, push);
      this.#keys?.joined(groupId, member.clientId);
    }
    return { ...outcome.group, joined: outcome.joined };
  }

  /** `cs_msg_group_leave` {groupId} → {groupId, ended}. */
  leave(request: ServiceRequest): { groupId: string; ended: boolean } {
    const groupId = groupIdField(objectData(request.data));
    // A member connection may always leave, also a group it joined as another user.
    const caller = this.#registry.hasMember({ groupId, clientId: request.clientId })
      ? { clientId: request.clientId, userId: request.userId }
      : callerOf(request);
    const departure = this.#registry.leave({ caller, groupId });
    this.#pushes.departed(departure, "left");
    return { groupId, ended: departure.ended };
  }

  /**
   * `cs_msg_group_send` {groupId, data} → {groupId, time, reached}: one `sc_msg_group_msg` push
   * to every other member, answered once the gate has taken it (`reached`: how many it reached).
   */
  async send(request: ServiceRequest): Promise<GroupSent> {
    const caller = callerOf(request);
    const fields = objectData(request.data);
    const groupId = groupIdField(fields);
    const data = fields.data;
    if (data === undefined) throw new FieldError("Field data is missing");
    const bytes = encoder.encode(JSON.stringify(data)).length;
    if (bytes > this.#maxDataBytes) {
      throw new FieldError(`Field data must be at most ${this.#maxDataBytes} bytes as JSON`);
    }
    const recipients = this.#registry.recipients({ caller, groupId });
    const time = this.#now();
    this.#metrics?.sent(recipients.length);
    if (recipients.length === 0) return { groupId, time, reached: 0 };
    let reached: number;
    try {
      const push: GroupMessagePush = defined({
        groupId,
        fromUserId: caller.userId,
        fromClientId: caller.clientId,
        fromName: this.#registry.member({ groupId, clientId: caller.clientId })?.name,
        data,
        time,
      });
      reached = await this.#gate.push(recipients, GroupCmd.MSG, push);
    } catch (error) {
      this.#log.warn("group push failed", { groupId, cmd: GroupCmd.MSG, error });
      throw new ServiceError(State.FAIL, `The message to group ${groupId} could not be delivered`);
    }
    return { groupId, time, reached };
  }

  /** `cs_msg_group_members` {groupId} → {groupId, owner, members}; members only. */
  members(request: ServiceRequest): GroupInfo {
    const caller = callerOf(request);
    const groupId = groupIdField(objectData(request.data));
    return this.#registry.members({ caller, groupId });
  }

  /** `cs_msg_group_dismiss` {groupId} → {groupId, members}; the owner only. */
  dismiss(request: ServiceRequest): { groupId: string; members: number } {
    const caller = callerOf(request);
    const groupId = groupIdField(objectData(request.data));
    const dismissal = this.#registry.dismiss({ caller, groupId });
    this.#log.info("group dismissed", {
      groupId,
      userId: caller.userId,
      clientId: caller.clientId,
      members: dismissal.members.length,
      groups: this.#registry.size,
    });
    const push: GroupDismissPush = defined({
      groupId,
      byUserId: caller.userId,
      byClientId: caller.clientId,
      byName: dismissal.members.find((m) => m.clientId === caller.clientId)?.name,
    });
    this.#pushes.tell(dismissal.others, GroupCmd.DISMISSED, push);
    this.#keys?.ended(groupId);
    return { groupId, members: dismissal.members.length };
  }

  /** `cs_msg_group_list` → {groups}: the asking connection's groups. */
  list(request: ServiceRequest): { groups: GroupListEntry[] } {
    const caller = callerOf(request);
    objectData(request.data);
    return { groups: this.#registry.list(caller) };
  }

  /**
   * A client left the gate: it leaves every group it was in, and the others are told; while its
   * user was bound, its memberships wait for the grace period instead (reconnect_grace.ts).
   */
  clientLeft(leave: ClientLeave, options: { grace?: boolean } = {}): void {
    const outcome = this.#grace.left({ ...leave, grace: options.grace });
    tellGraceOutcome(this.#pushes.graceTeller(this.#grace.graceMs), outcome);
  }

  /**
   * A user's binding to a connection that stays open ended (a logout, a login elsewhere): the
   * memberships it holds there as that user go as if it had dropped (reconnect_grace.ts), and
   * the connection is no member of them any more.
   */
  clientUnbound(unbind: UserUnbind): void {
    const outcome = this.#grace.unbound(unbind);
    const changed = outcome.away.length + outcome.back.length + outcome.departures.length;
    if (changed > 0) {
      this.#log.info("group user unbound", {
        clientId: unbind.clientId,
        userId: unbind.userId,
        away: outcome.away.length,
        moved: outcome.back.length,
        left: outcome.departures.length,
      });
    }
    // The connection stays open: it is not told if a group it is away from is lost.
    for (const mark of outcome.away) this.#keys?.left(mark.groupId, mark.member.clientId);
    tellGraceOutcome(this.#pushes.graceTeller(this.#grace.graceMs), outcome);
  }

  /** A user was bound to a connection: its members waiting for it are back (`sc_msg_group_back`). */
  clientBound(bind: UserBind): void {
    tellGraceOutcome(this.#pushes.graceTeller(this.#grace.graceMs), this.#grace.bound(bind));
  }

  /**
   * A gate went down or restarted (cluster mode): its clients in the range left, as if each had
   * sent `ss_msg_client_leave`, so that a restarted gate's new connections never get their
   * messages.
   */
  gateDown(down: GateDown): void {
    this.#grace.gateDown({ from: down.fromClientId, to: down.toClientId });
    const gone = this.#registry.clientsIn({ from: down.fromClientId, to: down.toClientId });
    for (const clientId of gone) this.clientLeft({ clientId, userId: 0 }, { grace: false });
    this.#log.info("gate down", { gate: down.gate, members: gone.length });
  }

  /**
   * The connection to the gate is lost: every group ends, telling no one. While the link is
   * down the service cannot hear clients leave, and a gate that restarted (or the next gate of
   * `--gate`) hands out the same clientIds to new connections, so kept memberships could send
   * a group's messages to strangers. Returns how many groups ended.
   */
  gateLost(): number {
    const count = this.#registry.clear();
    this.#grace.clear();
    if (count > 0) {
      this.#log.warn("groups dropped", { reason: "gate connection lost", groups: count });
    }
    return count;
  }
}
