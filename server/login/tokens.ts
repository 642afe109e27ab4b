/**
 * Login tokens: 256 random bits from `crypto.getRandomValues`, sent to the client as 43
 * characters of base64url and stored only as their SHA-256, so that a copy of the database does
 * not hold a token anyone can use.
 *
 * @example
 * ```ts
 * const token = newToken(); // "q3Vf…" (43 characters)
 * const stored = hashToken(token); // 32 bytes, what the database keeps
 * sameSecret(hashToken(token), stored); // true, in constant time
 * ```
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";

/** Random bytes per token (256 bits). */
export const TOKEN_BYTES = 32;

/** What a token looks like on the wire: 43 characters of base64url, no padding. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh random token. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The SHA-256 of a token, the only form in which it is stored. */
export function hashToken(token: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(token, "utf8").digest());
}

/** Compares two secrets (or hashes of secrets) in time that does not depend on their bytes. */
export function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
