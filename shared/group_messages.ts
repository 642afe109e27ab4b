/**
 * The group service's answers and pushes (DESIGN.md, "The services": group), declared once for
 * the service, the client library and the web page.
 *
 * Names: a user member's `name` is its username, which the gate stamps on every request as
 * `userName` (the login service gives it when it binds the user), so a client cannot choose how it
 * appears to others; a user that sends `name` in `cs_msg_group_create` or `cs_msg_group_join` is
 * refused. A service link, which has no user, may give `name` there to be shown by it, and has
 * none otherwise. A name follows the username rule ({@linkcode DISPLAY_NAME_PATTERN}); it is
 * absent when there is none (a service link that gave none, or a user bound without a username).
 * `userId` is the member's identity; `name` is what to show.
 *
 * @example
 * ```ts
 * import { type GroupMember, isDisplayName } from "./group_messages.ts";
 * const member: GroupMember = { userId: 7, clientId: 3, joinedAt: Date.now(), name: "alice1" };
 * isDisplayName(member.name); // true
 * ```
 * @module
 */

import { CREDENTIAL_PATTERN } from "./limits.ts";

/** What a group id must match. */
export const GROUP_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,64}$/;

/** Longest group key, in characters. */
export const MAX_GROUP_KEY_LENGTH = 128;

/** Whether a value is a well-formed group id. */
export function isGroupId(value: unknown): value is string {
  return typeof value === "string" && GROUP_ID_PATTERN.test(value);
}

/** Whether a value is a well-formed group key: a string of 1 to 128 characters. */
export function isGroupKey(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= MAX_GROUP_KEY_LENGTH;
}

/** What a display name must match: the username rule, 6 to 16 letters and digits. */
export const DISPLAY_NAME_PATTERN: RegExp = CREDENTIAL_PATTERN;

/** The display-name rule in words, for error messages. */
export const DISPLAY_NAME_RULE = "6 to 16 letters (a-z, A-Z) and digits (0-9)";

/** Whether a value is a well-formed display name. */
export function isDisplayName(value: unknown): value is string {
  return typeof value === "string" && DISPLAY_NAME_PATTERN.test(value);
}

/** One member of a group: a connection, its user when it joined, and when it joined (ms). */
export interface GroupMember {
  /** The user the connection joined as, 0 for a service link. */
  userId: number;
  /** The gate's id of the connection. */
  clientId: number;
  /** When it joined, ms since the epoch. */
  joinedAt: number;
  /** Its username (a service link: the name it gave); absent when none. */
  name?: string;
  /**
   * `true` while its connection dropped and it may come back (the group service's reconnect
   * grace period): it keeps its place but gets no pushes. Absent otherwise.
   */
  away?: boolean;
}

/** The owner of a group: one of its members. */
export interface GroupOwner {
  /** The owner's user, 0 for a service link. */
  userId: number;
  /** The owner's connection. */
  clientId: number;
  /** The owner's username (a service link: the name it gave); absent when none. */
  name?: string;
}

/** A group as `cs_msg_group_members` answers it. */
export interface GroupInfo {
  /** The group's id. */
  groupId: string;
  /** The member who owns it. */
  owner: GroupOwner;
  /** In the order they joined. */
  members: GroupMember[];
}

/** The answer of `cs_msg_group_join`. */
export interface GroupJoinAnswer extends GroupInfo {
  /** False when the connection was already a member. */
  joined: boolean;
}

/** The answer of `cs_msg_group_create`: the key is told only here. */
export interface GroupCreated {
  /** The group's id, the given one or an assigned one. */
  groupId: string;
  /** The key others join with, the given one or an assigned one. */
  key: string;
  /** The creator. */
  owner: GroupOwner;
}

/** One of a connection's groups, as `cs_msg_group_list` answers it. */
export interface GroupListEntry {
  /** The group's id. */
  groupId: string;
  /** The member who owns it. */
  owner: GroupOwner;
  /** How many members it has. */
  members: number;
  /** Whether the asking connection is the owner. */
  isOwner: boolean;
}

/** The answer of `cs_msg_group_send`. */
export interface GroupSent {
  /** The group. */
  groupId: string;
  /** When the service took the message, ms since the epoch. */
  time: number;
  /** How many members the gate reached. */
  reached: number;
}

/** Why a member left a group, as `sc_msg_group_leave` says it. */
export type GroupLeaveReason = "left" | "disconnected";

/** Push `sc_msg_group_msg`: a message sent to a group. */
export interface GroupMessagePush {
  groupId: string;
  fromUserId: number;
  fromClientId: number;
  /** The sender's username (a service link: the name it gave); absent when none. */
  fromName?: string;
  data: unknown;
  time: number;
}

/** Push `sc_msg_group_join`: someone joined; `members` is the count after. */
export interface GroupJoinPush extends GroupMember {
  groupId: string;
  members: number;
}

/** Push `sc_msg_group_leave`: someone left; `owner` is the owner after, `members` the count. */
export interface GroupLeavePush {
  groupId: string;
  userId: number;
  clientId: number;
  name?: string;
  reason: GroupLeaveReason;
  owner?: GroupOwner;
  members: number;
}

/**
 * Push `sc_msg_group_dismiss`: the owner ended the group; or, with `reason` and `byUserId` and
 * `byClientId` 0, the gate ended it because the service instance holding it went away.
 */
export interface GroupDismissPush {
  groupId: string;
  byUserId: number;
  byClientId: number;
  byName?: string;
  /** Why, when no member dismissed it. */
  reason?: string;
}

/**
 * Push `sc_msg_group_away`: a member's connection dropped while its user was logged in. It keeps
 * its place (and its ownership) for `graceMs`: if its user logs in again on a new connection by
 * then, `sc_msg_group_back` follows; otherwise `sc_msg_group_leave` with reason "disconnected".
 * `members` counts it still. Messages sent meanwhile are not kept for it.
 */
export interface GroupAwayPush {
  groupId: string;
  userId: number;
  /** The connection that dropped. */
  clientId: number;
  name?: string;
  /** How long it may take to come back, ms. */
  graceMs: number;
  members: number;
}

/**
 * Push `sc_msg_group_back`: a member is back, on its user's new connection `clientId`, in the
 * same place (`owner` is the owner now: the member itself when it owned the group). It usually
 * follows `sc_msg_group_away`; it comes alone when the user logged in on the new connection before
 * the old one was seen to drop.
 */
export interface GroupBackPush {
  groupId: string;
  userId: number;
  /** The member's new connection. */
  clientId: number;
  /** The connection it had before. */
  previousClientId: number;
  name?: string;
  owner: GroupOwner;
  members: number;
}
