/**
 * Who is in which group, for the registry (group_registry.ts): the groups of each connection, the groups
 * of each user (with how many of its connections are members of each), and the memberships over
 * every group. The registry keeps it in step with its groups; it checks nothing itself.
 *
 * A user's groups are counted under its userId; a service link (userId 0) has no user, so its
 * groups are counted per connection.
 *
 * @example
 * ```ts ignore
 * index.added("room", { userId: 7, clientId: 1, joinedAt: Date.now() });
 * [...index.groupsOf(1)]; // ["room"]
 * index.userGroups({ userId: 7, clientId: 2 })?.size; // 1: another connection of user 7
 * ```
 * @module
 */

import type { Caller, Member } from "./group_outcomes.ts";

/** The key under which a member's groups are counted: its user, or a service link's connection. */
function userKey(member: Caller): string {
  return member.userId > 0 ? `u${member.userId}` : `c${member.clientId}`;
}

/** The groups of each connection and of each user. */
export class MembershipIndex {
  /** Members over every group. */
  #memberships = 0;
  /** clientId → the ids of its groups. */
  #byClient = new Map<number, Set<string>>();
  /** user key → groupId → how many of the user's connections are members. */
  #byUser = new Map<string, Map<string, number>>();

  /** How many members there are over every group (a connection in two groups counts twice). */
  get memberships(): number {
    return this.#memberships;
  }

  /** The ids of a connection's groups, in the order it joined them (live: copy to change them). */
  groupsOf(clientId: number): Iterable<string> {
    return this.#byClient.get(clientId) ?? [];
  }

  /** The connections that are members of some group. */
  clientIds(): IterableIterator<number> {
    return this.#byClient.keys();
  }

  /**
   * The groups of the caller's user (a service link's: of its connection), each with how many of
   * its connections are members; `undefined` when none.
   */
  userGroups(caller: Caller): ReadonlyMap<string, number> | undefined {
    return this.#byUser.get(userKey(caller));
  }

  /** Whether a user (userId > 0) is a member of any group, on any connection. */
  hasUser(userId: number): boolean {
    return userId > 0 && this.#byUser.has(`u${userId}`);
  }

  /** A member joined group `groupId`. */
  added(groupId: string, member: Member): void {
    this.#memberships++;
    let ofClient = this.#byClient.get(member.clientId);
    if (!ofClient) this.#byClient.set(member.clientId, ofClient = new Set());
    ofClient.add(groupId);
    const key = userKey(member);
    let ofUser = this.#byUser.get(key);
    if (!ofUser) this.#byUser.set(key, ofUser = new Map());
    ofUser.set(groupId, (ofUser.get(groupId) ?? 0) + 1);
  }

  /** A member is no longer in group `groupId` (it left, or the group was dismissed). */
  removed(groupId: string, member: Member): void {
    this.#memberships--;
    const ofClient = this.#byClient.get(member.clientId);
    ofClient?.delete(groupId);
    if (ofClient?.size === 0) this.#byClient.delete(member.clientId);
    const key = userKey(member);
    const ofUser = this.#byUser.get(key);
    if (!ofUser) return;
    const count = (ofUser.get(groupId) ?? 1) - 1;
    if (count > 0) ofUser.set(groupId, count);
    else ofUser.delete(groupId);
    if (ofUser.size === 0) this.#byUser.delete(key);
  }

  /** A membership of group `groupId` moved from connection `from` to `to` (same user). */
  moved(groupId: string, options: { from: number; to: number }): void {
    const ofFrom = this.#byClient.get(options.from)!;
    ofFrom.delete(groupId);
    if (ofFrom.size === 0) this.#byClient.delete(options.from);
    let ofTo = this.#byClient.get(options.to);
    if (!ofTo) this.#byClient.set(options.to, ofTo = new Set());
    ofTo.add(groupId);
  }

  /** Forgets every membership. */
  clear(): void {
    this.#memberships = 0;
    this.#byClient.clear();
    this.#byUser.clear();
  }
}
