/**
 * The server side of the WebSocket opening handshake (RFC 6455 4.2): checks an upgrade request's
 * head and makes the `101 Switching Protocols` response, or says which status to answer.
 *
 * @example
 * ```ts
 * import { websocketAccept } from "./ws_handshake.ts";
 * websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (RFC 6455's example)
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import type { RequestHead } from "./http_request.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();

/** The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`. */
export function websocketAccept(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** The handshake's outcome: the response bytes to write, or a refusal. */
export type Handshake =
  | { ok: true; response: Uint8Array }
  | { ok: false; status: number; message: string; headers?: Record<string, string> };

function hasToken(value: string | undefined, token: string): boolean {
  return (value ?? "").split(",").some((part) => part.trim().toLowerCase() === token);
}

/** Checks an upgrade request's head (the path and origin are the caller's business). */
export function websocketHandshake(head: RequestHead): Handshake {
  const h = head.headers;
  if (!hasToken(h.get("upgrade"), "websocket")) {
    return { ok: false, status: 426, message: "This path takes WebSocket upgrades only" };
  }
  if (head.method !== "GET" || head.version !== "HTTP/1.1") {
    return { ok: false, status: 400, message: "A WebSocket upgrade must be an HTTP/1.1 GET" };
  }
  if (!hasToken(h.get("connection"), "upgrade")) {
    return { ok: false, status: 400, message: "The Connection header must include Upgrade" };
  }
  if (h.get("sec-websocket-version") !== "13") {
    return {
      ok: false,
      status: 426,
      message: "Only WebSocket version 13 is supported",
      headers: { "sec-websocket-version": "13" },
    };
  }
  const key = h.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    return { ok: false, status: 400, message: "The Sec-WebSocket-Key header is invalid" };
  }
  return {
    ok: true,
    response: encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
        `sec-websocket-accept: ${websocketAccept(key)}\r\n\r\n`,
    ),
  };
}
