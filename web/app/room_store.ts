/**
 * The group the page is in (its id and key), kept in `sessionStorage` beside the login token
 * (token_store.ts says why that storage): after a reload the page logs in again by token, the
 * group service gives the connection its groups back within its grace period, and the page shows
 * the same group with its key and invite link.
 *
 * @module
 */

import { isGroupId, isGroupKey } from "../../shared/group_messages.ts";
import type { Invite } from "./invite.ts";

/** Where the group is kept. */
export const ROOM_KEY = "gatehouse.room";

/** Reads, writes and removes the remembered group. */
export class RoomStore {
  #storage: Storage | undefined;

  constructor(storage?: Storage) {
    try {
      this.#storage = storage ?? globalThis.sessionStorage;
    } catch {
      this.#storage = undefined; // storage blocked by the browser's settings
    }
  }

  /** The remembered group, if any (a malformed entry counts as none). */
  get(): Invite | undefined {
    try {
      const value = JSON.parse(this.#storage?.getItem(ROOM_KEY) ?? "null");
      return isGroupId(value?.groupId) && isGroupKey(value?.key)
        ? { groupId: value.groupId, key: value.key }
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** Remembers a group. */
  set(room: Invite): void {
    try {
      this.#storage?.setItem(ROOM_KEY, JSON.stringify({ groupId: room.groupId, key: room.key }));
    } catch { /* not kept: after a reload the key is not shown */ }
  }

  /** Forgets the group. */
  clear(): void {
    try {
      this.#storage?.removeItem(ROOM_KEY);
    } catch { /* nothing to remove */ }
  }
}
