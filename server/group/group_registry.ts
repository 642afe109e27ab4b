/**
 * The session groups' state, in memory, with its limits (DESIGN.md, "The services": group). No
 * I/O: each method changes the state at once and says who has to be told, and the service
 * sends the pushes. A refusal throws `ServiceError` with the state and a sentence for the user.
 *
 * The rules:
 * - A member is one connection and the user it joined as: {clientId, userId, joinedAt}. The
 *   same user on two connections is two members; joining again on the same connection changes
 *   nothing (OK, idempotent). Acting as a member (send, members, dismiss) needs the same
 *   connection and the same user: a connection that has since logged in as someone else is not
 *   a member for that user, though it may still leave (membership ends when the connection
 *   leaves the group, leaves the gate, or the group is dismissed).
 * - The owner is a member (a connection). The creator is the first member and the owner; when
 *   the owner leaves, the earliest remaining member becomes the owner; a group with no members
 *   ends. Only the owner may dismiss.
 * - Keys are kept as SHA-256 and compared in constant time. A wrong key is `FORBIDDEN`, an
 *   unknown group `FAIL` "No group <id>".
 * - Limits: members per group; groups per user (distinct groups of one userId over all its
 *   connections; a service link, userId 0, counts per connection).
 * - Away members (the reconnect grace period, reconnect_grace.ts): a dropped connection's
 *   memberships may be marked away instead of ending. An away member keeps its place (its order,
 *   its ownership, the count) but gets no pushes and is not an `others`/`remaining`/recipient;
 *   {@linkcode GroupRegistry.moveClient} puts it back on its user's new connection, and
 *   {@linkcode GroupRegistry.clientLeft} ends it. A connection still open whose user was unbound
 *   (a logout) may hold away memberships too: for it they are no memberships (not listed, not
 *   its to leave) until its user is bound to it again. When an owner leaves, the earliest member
 *   that is not away becomes the owner (the earliest away one when all are away).
 *
 * @example
 * ```ts
 * const registry = new GroupRegistry({ limits: { maxMembers: 1000, maxGroupsPerUser: 100 } });
 * const { groupId, key } = registry.create({ caller: { clientId: 1, userId: 7 } });
 * const { others } = registry.join({ caller: { clientId: 2, userId: 8 }, groupId, key });
 * // others: [1], the members to tell with sc_msg_group_join
 * registry.clientLeft(2); // [{ groupId, member, remaining: [1], … }]
 * ```
 * @module
 */

import { ServiceError } from "../../client/errors.ts";
import { State } from "../../shared/state_codes.ts";
import type { GroupCreated, GroupInfo, GroupListEntry } from "../../shared/group_messages.ts";
import { hashGroupKey, newGroupId, newGroupKey, sameGroupKey } from "./group_ids.ts";
import { type GroupRecord as Group, infoOf, ownerOf, present } from "./group_record.ts";
import { MembershipIndex } from "./membership_index.ts";

export type {
  AwayMark,
  Caller,
  Departure,
  Dismissal,
  GroupCreated,
  GroupInfo,
  GroupListEntry,
  JoinOutcome,
  Member,
  Owner,
  Rejoin,
} from "./group_outcomes.ts";
import type {
  AwayMark,
  Caller,
  Departure,
  Dismissal,
  JoinOutcome,
  Member,
  Rejoin,
} from "./group_outcomes.ts";

/** The limits of {@linkcode GroupRegistry}. */
export interface GroupLimits {
  /** Most members (connections) in one group. */
  maxMembers: number;
  /** Most groups one user (or one service link) may be a member of. */
  maxGroupsPerUser: number;
}

/** Options of {@linkcode GroupRegistry}. */
export interface GroupRegistryOptions {
  /** Members per group and groups per user. */
  limits: GroupLimits;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /** Makes an id for a group created without one. Default {@linkcode newGroupId}. */
  newId?: () => string;
  /** Makes a key for a group created without one. Default {@linkcode newGroupKey}. */
  newKey?: () => string;
}

function fail(msg: string): ServiceError {
  return new ServiceError(State.FAIL, msg);
}

function forbidden(msg: string): ServiceError {
  return new ServiceError(State.FORBIDDEN, msg);
}

/** Every group in memory, with who is in which, and the limits. */
export class GroupRegistry {
  #limits: GroupLimits;
  #now: () => number;
  #newId: () => string;
  #newKey: () => string;
  #groups = new Map<string, Group>();
  /** Who is in which group. */
  #index = new MembershipIndex();

  /** An empty registry; throws `RangeError` when a limit is not a positive integer. */
  constructor(options: GroupRegistryOptions) {
    const { maxMembers, maxGroupsPerUser } = options.limits;
    if (!Number.isSafeInteger(maxMembers) || maxMembers < 1) {
      throw new RangeError("Limit maxMembers must be a positive integer");
    }
    if (!Number.isSafeInteger(maxGroupsPerUser) || maxGroupsPerUser < 1) {
      throw new RangeError("Limit maxGroupsPerUser must be a positive integer");
    }
    this.#limits = { maxMembers, maxGroupsPerUser };
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? newGroupId;
    this.#newKey = options.newKey ?? newGroupKey;
  }

  /** How many groups there are. */
  get size(): number {
    return this.#groups.size;
  }

  /** How many members there are over every group (a connection in two groups counts twice). */
  get memberships(): number {
    return this.#index.memberships;
  }

  /** The limits in force. */
  get limits(): Readonly<GroupLimits> {
    return this.#limits;
  }

  /**
   * Creates a group with the caller as its first member and owner. The id and key are assigned
   * when not given; a given id that exists is refused (`FAIL`), and so is a caller already in
   * the most groups allowed.
   */
  create(options: { caller: Caller; groupId?: string; key?: string }): GroupCreated {
    const { caller } = options;
    this.#checkUserRoom(caller);
    let groupId = options.groupId;
    if (groupId === undefined) {
      do groupId = this.#newId(); while (this.#groups.has(groupId));
    } else if (this.#groups.has(groupId)) {
      throw fail(`Group ${groupId} already exists`);
    }
    const key = options.key ?? this.#newKey();
    const group: Group = {
      id: groupId,
      keyHash: hashGroupKey(key),
      members: new Map(),
      ownerClientId: caller.clientId,
    };
    this.#groups.set(groupId, group);
    this.#add(group, caller);
    return { groupId, key, owner: ownerOf(group) };
  }

  /**
   * Adds the caller to a group whose key it knows. Unknown group: `FAIL`; wrong key:
   * `FORBIDDEN`; already a member: OK with `joined: false`; full group or a caller in the most
   * groups allowed: `FAIL`.
   */
  join(options: { caller: Caller; groupId: string; key: string }): JoinOutcome {
    const { caller, groupId } = options;
    const group = this.#group(groupId);
    if (!sameGroupKey(group.keyHash, options.key)) {
      throw forbidden(`The key of group ${groupId} is wrong`);
    }
    const existing = group.members.get(caller.clientId);
    if (existing && existing.userId !== caller.userId) {
      throw fail(`This connection is in group ${groupId} as another user: leave it first`);
    }
    if (existing) {
      return { group: infoOf(group), joined: false, member: { ...existing }, others: [] };
    }
    if (group.members.size >= this.#limits.maxMembers) {
      throw fail(`Group ${groupId} is full: it has ${this.#limits.maxMembers} members`);
    }
    this.#checkUserRoom(caller, groupId);
    const others = present(group);
    const member = this.#add(group, caller);
    return { group: infoOf(group), joined: true, member: { ...member }, others };
  }

  /**
   * Takes the caller's connection out of a group, whichever user it joined as. Unknown group or
   * not a member: `FAIL`.
   */
  leave(options: { caller: Caller; groupId: string }): Departure {
    const group = this.#group(options.groupId);
    if (!group.members.has(options.caller.clientId)) {
      throw fail(`You are not a member of group ${options.groupId}`);
    }
    return this.#remove(group, options.caller.clientId);
  }

  /** Whether a connection is a member of a group, not away (false for an unknown group). */
  hasMember(options: { groupId: string; clientId: number }): boolean {
    const member = this.#groups.get(options.groupId)?.members.get(options.clientId);
    return member !== undefined && !member.away;
  }

  /** A member of a group by its connection, or `undefined` (also for an unknown group). */
  member(options: { groupId: string; clientId: number }): Member | undefined {
    const member = this.#groups.get(options.groupId)?.members.get(options.clientId);
    return member && { ...member };
  }

  /**
   * Takes a connection that left the gate out of all its groups; with `keepAway`, out of those
   * where it is not away; with `userId`, out of those it joined as that user only.
   */
  clientLeft(clientId: number, options: { keepAway?: boolean; userId?: number } = {}): Departure[] {
    const ids = [...this.#index.groupsOf(clientId)];
    return ids
      .filter((id) => {
        const member = this.#groups.get(id)!.members.get(clientId)!;
        if (options.userId !== undefined && member.userId !== options.userId) return false;
        return !(options.keepAway && member.away);
      })
      .map((id) => this.#remove(this.#groups.get(id)!, clientId));
  }

  /** The users a connection's memberships joined as (0 for a service link), each once. */
  memberUsers(clientId: number): number[] {
    const users = new Set<number>();
    for (const id of this.#index.groupsOf(clientId)) {
      users.add(this.#groups.get(id)!.members.get(clientId)!.userId);
    }
    return [...users];
  }

  /** Whether a user (userId > 0) is a member of any group, on any connection. */
  hasUser(userId: number): boolean {
    return this.#index.hasUser(userId);
  }

  /**
   * Marks away the memberships a dropped connection holds as `userId` (not those it joined as
   * another user): they keep their place and get no pushes. Says whom to tell.
   */
  markAway(options: { clientId: number; userId: number }): AwayMark[] {
    const marks: AwayMark[] = [];
    for (const id of this.#index.groupsOf(options.clientId)) {
      const group = this.#groups.get(id)!;
      const member = group.members.get(options.clientId)!;
      if (member.userId !== options.userId || member.away) continue;
      member.away = true;
      marks.push({
        groupId: id,
        member: { ...member },
        others: present(group),
        members: group.members.size,
      });
    }
    return marks;
  }

  /**
   * Moves the memberships connection `from` holds as `userId` to connection `to`, each in the
   * same place of its group (its order, its ownership, `joinedAt`), no longer away. Where `to`
   * is already a member, the one of `from` leaves instead (a departure). With `from` equal to
   * `to` (its user bound again to the connection it was unbound from), they stay where they
   * are, no longer away.
   */
  moveClient(
    options: { from: number; to: number; userId: number },
  ): { back: Rejoin[]; departures: Departure[] } {
    const { from, to } = options;
    const back: Rejoin[] = [];
    const departures: Departure[] = [];
    for (const id of [...this.#index.groupsOf(from)]) {
      const group = this.#groups.get(id)!;
      const member = group.members.get(from)!;
      if (member.userId !== options.userId) continue;
      if (from !== to && group.members.has(to)) {
        departures.push(this.#remove(group, from));
        continue;
      }
      if (from !== to) {
        // A Map keeps insertion order: rebuild it with the new key in the old place.
        group.members = new Map(
          [...group.members].map(([key, m]) => [key === from ? to : key, m]),
        );
        member.clientId = to;
        if (group.ownerClientId === from) group.ownerClientId = to;
        this.#index.moved(id, { from, to });
      }
      delete member.away;
      back.push({
        groupId: id,
        member: { ...member },
        previousClientId: from,
        owner: ownerOf(group),
        others: present(group, to),
        members: group.members.size,
      });
    }
    return { back, departures };
  }

  /** The member connections whose clientId is in `[from, to)` (a gate that went down). */
  clientsIn(range: { from: number; to: number }): number[] {
    return [...this.#index.clientIds()].filter((id) => id >= range.from && id < range.to);
  }

  /** Ends a group; only its owner may. Unknown group: `FAIL`; anyone else: `FORBIDDEN`. */
  dismiss(options: { caller: Caller; groupId: string }): Dismissal {
    const group = this.#group(options.groupId);
    if (!this.#isOwner(group, options.caller)) {
      throw forbidden(`Only the owner of group ${options.groupId} may dismiss it`);
    }
    const members = [...group.members.values()];
    for (const member of members) this.#index.removed(group.id, member);
    this.#groups.delete(group.id);
    return {
      groupId: group.id,
      members,
      others: members.filter((m) => !m.away && m.clientId !== options.caller.clientId)
        .map((m) => m.clientId),
    };
  }

  /** A group and its members, for one of its members. Unknown: `FAIL`; others: `FORBIDDEN`. */
  members(options: { caller: Caller; groupId: string }): GroupInfo {
    const group = this.#memberGroup(options, "list its members");
    return infoOf(group);
  }

  /**
   * The clientIds a member's message goes to: every other member. Unknown group: `FAIL`;
   * not a member: `FORBIDDEN`.
   */
  recipients(options: { caller: Caller; groupId: string }): number[] {
    const group = this.#memberGroup(options, "send to it");
    return present(group, options.caller.clientId);
  }

  /**
   * The groups the caller's connection is a member of as the caller's user, in the order it
   * joined them: not those where it is away, nor those it joined as another user (a connection
   * whose user changed before the group service heard of the unbind must not see the earlier
   * user's groups).
   */
  list(caller: Caller): GroupListEntry[] {
    const ids = [...this.#index.groupsOf(caller.clientId)].filter((id) => {
      const member = this.#groups.get(id)!.members.get(caller.clientId)!;
      return !member.away && member.userId === caller.userId;
    });
    return ids.map((id) => {
      const group = this.#groups.get(id)!;
      return {
        groupId: id,
        owner: ownerOf(group),
        members: group.members.size,
        isOwner: this.#isOwner(group, caller),
      };
    });
  }

  /** A group as it is now, or `undefined`; for logs and tests, with no access check. */
  peek(groupId: string): GroupInfo | undefined {
    const group = this.#groups.get(groupId);
    return group && infoOf(group);
  }

  /** Ends every group at once, telling no one; returns how many there were. */
  clear(): number {
    const count = this.#groups.size;
    this.#groups.clear();
    this.#index.clear();
    return count;
  }

  #group(groupId: string): Group {
    const group = this.#groups.get(groupId);
    if (!group) throw fail(`No group ${groupId}`);
    return group;
  }

  #memberGroup(options: { caller: Caller; groupId: string }, action: string): Group {
    const group = this.#group(options.groupId);
    if (!this.#isMember(group, options.caller)) {
      throw forbidden(`Only members of group ${options.groupId} may ${action}`);
    }
    return group;
  }

  /** Whether the caller's connection joined the group as the caller's user. */
  #isMember(group: Group, caller: Caller): boolean {
    return group.members.get(caller.clientId)?.userId === caller.userId;
  }

  #isOwner(group: Group, caller: Caller): boolean {
    return group.ownerClientId === caller.clientId && this.#isMember(group, caller);
  }

  /** Refuses a caller who is in the most groups allowed (unless already in `groupId`). */
  #checkUserRoom(caller: Caller, groupId?: string): void {
    const groups = this.#index.userGroups(caller);
    if (!groups || (groupId !== undefined && groups.has(groupId))) return;
    if (groups.size >= this.#limits.maxGroupsPerUser) {
      throw fail(`You are in the most groups allowed (${this.#limits.maxGroupsPerUser})`);
    }
  }

  #add(group: Group, caller: Caller): Member {
    const member: Member = {
      userId: caller.userId,
      clientId: caller.clientId,
      joinedAt: this.#now(),
    };
    if (caller.name !== undefined) member.name = caller.name;
    group.members.set(member.clientId, member);
    this.#index.added(group.id, member);
    return member;
  }

  #remove(group: Group, clientId: number): Departure {
    const member = group.members.get(clientId)!;
    group.members.delete(clientId);
    this.#index.removed(group.id, member);
    if (group.members.size === 0) {
      this.#groups.delete(group.id);
      return {
        groupId: group.id,
        member,
        ended: true,
        ownerChanged: false,
        remaining: [],
        members: 0,
      };
    }
    const ownerChanged = group.ownerClientId === clientId;
    // A Map iterates in insertion order: the first one is the earliest member.
    if (ownerChanged) {
      const first = [...group.members.values()].find((m) => !m.away) ??
        group.members.values().next().value!;
      group.ownerClientId = first.clientId;
    }
    return {
      groupId: group.id,
      member,
      ended: false,
      owner: ownerOf(group),
      ownerChanged,
      remaining: present(group),
      members: group.members.size,
    };
  }
}
