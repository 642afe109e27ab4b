/**
 * The key directory of one gate (route by key, shared/key_routes.ts): which of this gate's links
 * owns each claimed key, in its service's key space, and whom to tell when the key is lost. No
 * I/O: each method changes the table at once and returns what the caller has to act on. In
 * cluster mode the same table holds this gate's own links' keys, and the cluster's directory in
 * NATS KV (cluster_keys.ts) says which gate owns a key.
 *
 * Rules:
 * - A key is claimed by one owner at a time; a claim of a key another owner holds is refused,
 *   a claim again by its owner is OK and replaces its notify push (its clientIds are kept when
 *   the new claim names none).
 * - Only the owner may change the notify list or release a key.
 * - When an owner goes away, every key it held is dropped at once and returned, so that the
 *   caller tells their clientIds (the owner cannot any more).
 * - An owner holds at most {@linkcode MAX_KEYS_PER_OWNER} keys; a notify list at most
 *   {@linkcode MAX_KEY_NOTIFY_TARGETS} clientIds.
 *
 * @example
 * ```ts
 * const keys = new KeyDirectory<string>();
 * keys.claim({ space: "group", key: "room1", owner: "link-a" }); // { ok: true, again: false }
 * keys.owner("group", "room1"); // "link-a"
 * keys.dropOwner("link-a"); // [{ space: "group", key: "room1", owner: "link-a", … }]
 * ```
 * @module
 */

import { type KeyNotify, MAX_KEY_NOTIFY_TARGETS } from "../../shared/key_routes.ts";

export { MAX_KEY_NOTIFY_TARGETS };

/** Most keys one owner (a service link) may hold. */
export const MAX_KEYS_PER_OWNER = 1_000_000;

/** What to push when a key is lost, with its clientIds as a set. */
export interface HeldNotify {
  cmd: string;
  data: unknown;
  clientIds: Set<number>;
}

/** One claimed key. */
export interface HeldKey<T> {
  space: string;
  key: string;
  owner: T;
  notify?: HeldNotify;
}

/** The outcome of a claim; a refusal's `state` is `FAIL` unless it says otherwise. */
export type ClaimOutcome =
  | { ok: true; again: boolean }
  | { ok: false; msg: string; state?: number };

/** The key as one map key: the space's length keeps two spaces from running together. */
function slot(space: string, key: string): string {
  return `${space.length}:${space}${key}`;
}

function heldNotify(notify: KeyNotify | undefined, keep?: Set<number>): HeldNotify | undefined {
  if (!notify) return undefined;
  return {
    cmd: notify.cmd,
    data: notify.data ?? {},
    clientIds: notify.clientIds ? new Set(notify.clientIds) : keep ?? new Set(),
  };
}

/** Keys → owners of one gate, and each owner's keys. */
export class KeyDirectory<T> {
  #keys = new Map<string, HeldKey<T>>();
  #byOwner = new Map<T, Map<string, HeldKey<T>>>();

  /** How many keys are held. */
  get size(): number {
    return this.#keys.size;
  }

  /** The owner of a key, or undefined. */
  owner(space: string, key: string): T | undefined {
    return this.#keys.get(slot(space, key))?.owner;
  }

  /** A held key, or undefined. */
  get(space: string, key: string): HeldKey<T> | undefined {
    return this.#keys.get(slot(space, key));
  }

  /** How many keys an owner holds. */
  countOf(owner: T): number {
    return this.#byOwner.get(owner)?.size ?? 0;
  }

  /** Claims a key for `owner`; refused when another owner holds it or the owner holds too many. */
  claim(options: { space: string; key: string; owner: T; notify?: KeyNotify }): ClaimOutcome {
    const { space, key, owner } = options;
    const at = slot(space, key);
    const held = this.#keys.get(at);
    if (held && held.owner !== owner) {
      return { ok: false, msg: `Key ${key} is claimed by another instance` };
    }
    if (held) {
      if (options.notify) held.notify = heldNotify(options.notify, held.notify?.clientIds);
      return { ok: true, again: true };
    }
    let owned = this.#byOwner.get(owner);
    if ((owned?.size ?? 0) >= MAX_KEYS_PER_OWNER) {
      return { ok: false, msg: `This link holds the most keys allowed (${MAX_KEYS_PER_OWNER})` };
    }
    const entry: HeldKey<T> = { space, key, owner, notify: heldNotify(options.notify) };
    this.#keys.set(at, entry);
    if (!owned) this.#byOwner.set(owner, owned = new Map());
    owned.set(at, entry);
    return { ok: true, again: false };
  }

  /**
   * Adds and removes clientIds to tell when the key is lost; false when `owner` does not hold
   * it. A key claimed without a notify push keeps no clientIds. Throws `RangeError` past
   * {@linkcode MAX_KEY_NOTIFY_TARGETS}.
   */
  notify(
    options: { space: string; key: string; owner: T; add?: number[]; remove?: number[] },
  ): boolean {
    const held = this.#keys.get(slot(options.space, options.key));
    if (!held || held.owner !== options.owner) return false;
    const ids = held.notify?.clientIds;
    if (!ids) return true;
    for (const id of options.remove ?? []) ids.delete(id);
    for (const id of options.add ?? []) {
      if (ids.size >= MAX_KEY_NOTIFY_TARGETS && !ids.has(id)) {
        throw new RangeError(
          `Key ${options.key} tells the most clientIds allowed (${MAX_KEY_NOTIFY_TARGETS})`,
        );
      }
      ids.add(id);
    }
    return true;
  }

  /** Releases a key `owner` holds; returns it, or undefined when `owner` does not hold it. */
  release(options: { space: string; key: string; owner: T }): HeldKey<T> | undefined {
    const at = slot(options.space, options.key);
    const held = this.#keys.get(at);
    if (!held || held.owner !== options.owner) return undefined;
    this.#keys.delete(at);
    const owned = this.#byOwner.get(held.owner);
    owned?.delete(at);
    if (owned?.size === 0) this.#byOwner.delete(held.owner);
    return held;
  }

  /** The keys an owner holds. */
  heldBy(owner: T): HeldKey<T>[] {
    return [...this.#byOwner.get(owner)?.values() ?? []];
  }

  /** An owner went away: drops and returns every key it held. */
  dropOwner(owner: T): HeldKey<T>[] {
    const owned = this.#byOwner.get(owner);
    if (!owned) return [];
    this.#byOwner.delete(owner);
    for (const at of owned.keys()) this.#keys.delete(at);
    return [...owned.values()];
  }
}
