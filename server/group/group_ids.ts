/**
 * Group ids and keys: their patterns, random ones for groups created without them, and the
 * constant-time key check. A key is kept only as its SHA-256, so that comparing two keys takes
 * the same time whatever their bytes and lengths.
 *
 * @example
 * ```ts
 * const key = newGroupKey(); // 32 url-safe characters
 * const stored = hashGroupKey(key);
 * sameGroupKey(stored, key); // true, in constant time
 * ```
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import {
  GROUP_ID_PATTERN,
  isGroupId,
  isGroupKey,
  MAX_GROUP_KEY_LENGTH,
} from "../../shared/group_messages.ts";

export { GROUP_ID_PATTERN, isGroupId, isGroupKey };

/** Longest group key, in characters. */
export const MAX_KEY_LENGTH = MAX_GROUP_KEY_LENGTH;

/** Characters of an assigned group id (96 random bits). */
export const ASSIGNED_ID_LENGTH = 16;

/** Characters of an assigned group key (192 random bits). */
export const ASSIGNED_KEY_LENGTH = 32;

/** The url-safe alphabet: 64 characters, so that `byte & 63` picks one without bias. */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** `length` random url-safe characters from `crypto.getRandomValues`. */
export function randomUrlSafe(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let text = "";
  for (const byte of bytes) text += ALPHABET[byte & 63];
  return text;
}

/** A fresh random group id: 16 url-safe characters. */
export function newGroupId(): string {
  return randomUrlSafe(ASSIGNED_ID_LENGTH);
}

/** A fresh random, unguessable group key: 32 url-safe characters. */
export function newGroupKey(): string {
  return randomUrlSafe(ASSIGNED_KEY_LENGTH);
}

/** The SHA-256 of a key, the only form in which a group keeps it. */
export function hashGroupKey(key: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(key, "utf8").digest());
}

/** Whether `key` is the key whose hash is `stored`, in time that does not depend on either. */
export function sameGroupKey(stored: Uint8Array, key: string): boolean {
  const given = hashGroupKey(key);
  return stored.length === given.length && timingSafeEqual(stored, given);
}
