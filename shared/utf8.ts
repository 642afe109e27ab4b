/**
 * Strict UTF-8 decoding, as a `TextDecoder` with `fatal: true` does it, at the lenient decoder's
 * speed: the lenient decoder replaces each invalid sequence with U+FFFD, so a text without U+FFFD
 * came from valid UTF-8; only a text with one is decoded again strictly, which throws for invalid
 * bytes and returns the same text for a U+FFFD that was sent. In Deno 2.9 the fatal decoder takes
 * ~3× the time of the lenient one on an envelope, ~6× on 4 KB. Every frame and WebSocket text the
 * gate, the services and the clients read is decoded here.
 *
 * @example
 * ```ts
 * import { decodeStrictUtf8 } from "./utf8.ts";
 * decodeStrictUtf8(new Uint8Array([0x7b, 0x7d])); // "{}"
 * decodeStrictUtf8(new Uint8Array([0xff])); // throws TypeError
 * ```
 * @module
 */

/** Options of {@linkcode decodeStrictUtf8}. */
export interface StrictUtf8Options {
  /** Keep a leading byte order mark in the text instead of dropping it (as `TextDecoder`). */
  ignoreBOM?: boolean;
}

const lenient = new TextDecoder("utf-8", { ignoreBOM: false });
const lenientKeepingBom = new TextDecoder("utf-8", { ignoreBOM: true });
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const strictKeepingBom = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 bytes; throws `TypeError` when they are not valid UTF-8, as a fatal
 * `TextDecoder` does.
 *
 * @example
 * ```ts
 * decodeStrictUtf8(new TextEncoder().encode("\uFEFFhi"), { ignoreBOM: true }); // "\uFEFFhi"
 * ```
 */
export function decodeStrictUtf8(bytes: Uint8Array, options: StrictUtf8Options = {}): string {
  const keepBom = options.ignoreBOM === true;
  const text = (keepBom ? lenientKeepingBom : lenient).decode(bytes);
  if (text.indexOf("\uFFFD") === -1) return text;
  return (keepBom ? strictKeepingBom : strict).decode(bytes);
}
