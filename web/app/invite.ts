/**
 * Invite links: the page's address with the group id and key in the fragment,
 * `https://host/#join=<groupId>&key=<key>`. A fragment never leaves the browser, so the key
 * reaches neither the server nor its logs; opening the link while logged in joins the group.
 *
 * @example
 * ```ts
 * const link = inviteLink({ origin: "https://chat.example", pathname: "/" }, {
 *   groupId: "room1",
 *   key: "s3cret",
 * }); // "https://chat.example/#join=room1&key=s3cret"
 * parseInvite(new URL(link).hash); // { groupId: "room1", key: "s3cret" }
 * ```
 * @module
 */

import { isGroupId, isGroupKey } from "../../shared/group_messages.ts";

/** A group to join: its id and key. */
export interface Invite {
  groupId: string;
  key: string;
}

/** The invite link for a group on the page at `page` (its origin and path). */
export function inviteLink(page: { origin: string; pathname: string }, invite: Invite): string {
  const fragment = new URLSearchParams({ join: invite.groupId, key: invite.key });
  return `${page.origin}${page.pathname}#${fragment}`;
}

/** The invite in a fragment (`location.hash`), or `undefined` when it holds none or a bad one. */
export function parseInvite(hash: string): Invite | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const groupId = params.get("join");
  const key = params.get("key");
  if (!isGroupId(groupId) || !isGroupKey(key)) return undefined;
  return { groupId, key };
}
