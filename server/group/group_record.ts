/**
 * One group as the registry (group_registry.ts) keeps it, and the views of it the registry hands out:
 * its owner, its info (a copy of every member), and the members present (not away) to tell.
 *
 * @example
 * ```ts ignore
 * const others = present(group, caller.clientId); // every member to tell but the caller
 * ```
 * @module
 */

import type { GroupInfo } from "../../shared/group_messages.ts";
import type { Member, Owner } from "./group_outcomes.ts";

/** One group in memory: its id, its key's hash, its members and which of them owns it. */
export interface GroupRecord {
  /** The group id. */
  id: string;
  /** The SHA-256 of its key (group_ids.ts). */
  keyHash: Uint8Array;
  /** By clientId, in the order they joined (a Map keeps insertion order). */
  members: Map<number, Member>;
  /** The owner's connection: one of the members. */
  ownerClientId: number;
}

/** The clientIds of a group's members that are not away, but `except`'s, in order. */
export function present(group: GroupRecord, except?: number): number[] {
  const ids: number[] = [];
  for (const [id, member] of group.members) {
    if (!member.away && id !== except) ids.push(id);
  }
  return ids;
}

/** The owner of a group, a copy: {userId, clientId, name?}. */
export function ownerOf(group: GroupRecord): Owner {
  const member = group.members.get(group.ownerClientId)!;
  const owner: Owner = { userId: member.userId, clientId: member.clientId };
  if (member.name !== undefined) owner.name = member.name;
  return owner;
}

/** A group and copies of its members, as the members command answers it. */
export function infoOf(group: GroupRecord): GroupInfo {
  return {
    groupId: group.id,
    owner: ownerOf(group),
    members: [...group.members.values()].map((m) => ({ ...m })),
  };
}
