/**
 * What the group registry's changes return: who asked, and the outcome of a join, a
 * departure, an away mark, a rejoin and a dismiss, each with the members to tell.
 *
 * @module
 */

import type {
  GroupCreated,
  GroupInfo,
  GroupListEntry,
  GroupMember,
  GroupOwner,
} from "../../shared/group_messages.ts";

/** Who makes a request: the gate's clientId of the connection and its user (0 when none). */
export interface Caller {
  /** The gate's id of the connection. */
  clientId: number;
  /** The user bound to it, 0 for a service link. */
  userId: number;
  /**
   * The name it is shown by: a user's username stamped by the gate, or a service link's own
   * (checked by the service); kept only when it becomes a member.
   */
  name?: string;
}

/** One member of a group (declared in shared/group_messages.ts). */
export type Member = GroupMember;

/** The owner of a group: one of its members. */
export type Owner = GroupOwner;

export type { GroupCreated, GroupInfo, GroupListEntry };

/** The outcome of a join. */
export interface JoinOutcome {
  /** The group after the join. */
  group: GroupInfo;
  /** False when the connection was already a member (nothing changed). */
  joined: boolean;
  /** The new member. */
  member: Member;
  /** The other members' clientIds, to tell (empty when nothing changed). */
  others: number[];
}

/** A member's departure from a group (it left, or its client left the gate). */
export interface Departure {
  /** The group left. */
  groupId: string;
  /** Who left. */
  member: Member;
  /** True when nobody is left: the group has ended. */
  ended: boolean;
  /** The owner after the departure; absent when the group ended. */
  owner?: Owner;
  /** Whether ownership passed to another member. */
  ownerChanged: boolean;
  /** The remaining members' clientIds to tell (those not away). */
  remaining: number[];
  /** How many members are left, away ones included. */
  members: number;
}

/** A member of a dropped connection marked away: it keeps its place while its grace runs. */
export interface AwayMark {
  /** The group. */
  groupId: string;
  /** The member, now away. */
  member: Member;
  /** The other members' clientIds to tell (those not away). */
  others: number[];
  /** How many members the group has, away ones included. */
  members: number;
}

/** A member put back on its user's new connection, in the same place. */
export interface Rejoin {
  /** The group. */
  groupId: string;
  /** The member, with its new clientId. */
  member: Member;
  /** The connection it had before. */
  previousClientId: number;
  /** The owner now (the member itself when it owned the group). */
  owner: Owner;
  /** The other members' clientIds to tell (those not away). */
  others: number[];
  /** How many members the group has, away ones included. */
  members: number;
}

/** The outcome of a dismiss. */
export interface Dismissal {
  /** The group that ended. */
  groupId: string;
  /** Every member the group had, the owner included. */
  members: Member[];
  /** The members' clientIds but the dismissing connection's, to tell. */
  others: number[];
}
