/**
 * A minimal client of Pinus's hybridconnector protocol (the pomelo protocol), for the bench's
 * Pinus baseline, over WebSocket (`ws://`, the `ws` package) or plain TCP (`tcp://`; the
 * hybridconnector serves both on its client port).
 *
 * Packages: `type (1 byte) | body length (3 bytes, big-endian) | body`; types 1 handshake, 2
 * handshake ack, 3 heartbeat, 4 data, 5 kick. A data body is a message: `flag (1 byte: type << 1 |
 * compressed route)`, then for a request or response its id (7 bits a byte, low first, high bit =
 * more), then for a request its route (1 length byte + UTF-8), then the body (JSON here: the
 * connector runs without dictionary or protobuf). The client sends a handshake
 * `{sys: {type, version}, user: {}}`, gets `{code: 200, sys: {heartbeat}}`, answers with a
 * handshake ack; from then on each heartbeat from the server is answered one interval later.
 *
 * @example
 * const client = await PinusClient.connect("ws://127.0.0.1:3010");
 * const reply = await client.request("echo.echoHandler.echo", { n: 1 });
 * client.close();
 */

import { connect as tcpConnect } from "node:net";
import WebSocket from "ws";

const PKG_HANDSHAKE = 1;
const PKG_HANDSHAKE_ACK = 2;
const PKG_HEARTBEAT = 3;
const PKG_DATA = 4;
const PKG_KICK = 5;
const MSG_REQUEST = 0;
const MSG_RESPONSE = 2;
/** Most bytes of one package body this client takes (the header allows 16 MiB). */
const MAX_BODY = 1 << 20;

/** Encodes one package. */
export function encodePackage(type, body) {
  const length = body ? body.length : 0;
  const out = Buffer.allocUnsafe(4 + length);
  out[0] = type;
  out[1] = (length >> 16) & 0xff;
  out[2] = (length >> 8) & 0xff;
  out[3] = length & 0xff;
  if (body) body.copy(out, 4);
  return out;
}

/** Encodes a request message (uncompressed route, JSON body) inside a data package. */
export function encodeRequest(id, route, body) {
  const routeBytes = Buffer.from(route);
  if (routeBytes.length > 255) throw new RangeError("A route is at most 255 bytes");
  const json = Buffer.from(JSON.stringify(body));
  const idBytes = [];
  let rest = id;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest !== 0) byte += 128;
    idBytes.push(byte);
  } while (rest !== 0);
  const length = 1 + idBytes.length + 1 + routeBytes.length + json.length;
  const out = Buffer.allocUnsafe(4 + length);
  out[0] = PKG_DATA;
  out[1] = (length >> 16) & 0xff;
  out[2] = (length >> 8) & 0xff;
  out[3] = length & 0xff;
  let at = 4;
  out[at++] = MSG_REQUEST << 1;
  for (const byte of idBytes) out[at++] = byte;
  out[at++] = routeBytes.length;
  routeBytes.copy(out, at);
  at += routeBytes.length;
  json.copy(out, at);
  return out;
}

/** Decodes a data body holding a response: its id and parsed JSON body. */
export function decodeResponse(body) {
  const flag = body[0];
  const type = (flag >> 1) & 0x7;
  if (type !== MSG_RESPONSE) return undefined;
  let id = 0;
  let at = 1;
  let shift = 0;
  for (;;) {
    if (at >= body.length) throw new Error("A response's id is cut short");
    const byte = body[at++];
    id += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 128) break;
    if (shift > 35) throw new Error("A response's id is longer than 5 bytes");
  }
  const text = body.toString("utf8", at);
  return { id, body: text.length ? JSON.parse(text) : undefined };
}

/** One connection speaking the hybridconnector protocol. */
export class PinusClient {
  #send;
  #close;
  #pending = new Map();
  #nextId = 1;
  #heartbeatMs = 0;
  #heartbeatTimer;
  #closed = false;
  #onClose = [];
  #rest = Buffer.alloc(0);
  #handshake;
  /** Heartbeats received from the server. */
  heartbeats = 0;

  constructor(send, close) {
    this.#send = send;
    this.#close = close;
  }

  /** Opens a connection and completes the handshake; rejects after `timeoutMs`. */
  static connect(url, options = {}) {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      let client;
      const timer = setTimeout(() => {
        reject(new Error(`No Pinus handshake from ${url} within ${timeoutMs} ms`));
        client?.close();
      }, timeoutMs);
      const done = (error) => {
        clearTimeout(timer);
        if (error) {
          reject(error);
          client?.close();
        } else resolve(client);
      };
      const parsed = new URL(url);
      if (parsed.protocol === "tcp:") {
        const socket = tcpConnect({ host: parsed.hostname, port: Number(parsed.port) });
        socket.setNoDelay(true);
        client = new PinusClient((bytes) => socket.write(bytes), () => socket.destroy());
        client.#handshake = done;
        socket.on("connect", () => client.#sendHandshake());
        socket.on("data", (chunk) => client.#onStream(chunk));
        socket.on("error", (error) => client.#closedBy(error));
        socket.on("close", () => client.#closedBy(new Error("The connection closed")));
      } else {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.binaryType = "nodebuffer";
        client = new PinusClient((bytes) => ws.send(bytes), () => ws.terminate());
        client.#handshake = done;
        ws.on("open", () => client.#sendHandshake());
        ws.on("message", (data) => client.#onStream(data));
        ws.on("error", (error) => client.#closedBy(error));
        ws.on("close", () => client.#closedBy(new Error("The connection closed")));
      }
    });
  }

  /** Sends a request; resolves with the response body. */
  request(route, body, timeoutMs = 0) {
    if (this.#closed) return Promise.reject(new Error("The connection is closed"));
    const id = this.#nextId++;
    if (this.#nextId > 0x7fffffff) this.#nextId = 1;
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, timer: undefined };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new Error(`No response to request ${id} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#pending.set(id, entry);
      this.#send(encodeRequest(id, route, body));
    });
  }

  /** Calls `fn(error)` once when the connection ends. */
  onClose(fn) {
    this.#onClose.push(fn);
  }

  /** Closes the connection. */
  close() {
    this.#closedBy(new Error("Closed by the client"));
    this.#close();
  }

  #sendHandshake() {
    const hello = { sys: { type: "js-websocket", version: "0.0.1", rsa: {} }, user: {} };
    this.#send(encodePackage(PKG_HANDSHAKE, Buffer.from(JSON.stringify(hello))));
  }

  /** Takes bytes (a WebSocket message or a TCP chunk) and handles every whole package. */
  #onStream(chunk) {
    const bytes = this.#rest.length ? Buffer.concat([this.#rest, chunk]) : chunk;
    let at = 0;
    while (bytes.length - at >= 4) {
      const type = bytes[at];
      const length = (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
      if (type < PKG_HANDSHAKE || type > PKG_KICK || length > MAX_BODY) {
        this.#closedBy(new Error(`A package of type ${type} and ${length} bytes is not valid`));
        this.#close();
        return;
      }
      if (bytes.length - at - 4 < length) break;
      this.#onPackage(type, bytes.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    this.#rest = at === bytes.length ? Buffer.alloc(0) : Buffer.from(bytes.subarray(at));
  }

  #onPackage(type, body) {
    if (type === PKG_DATA) {
      const message = decodeResponse(body);
      if (!message) return; // a push: the echo baseline sends none
      const entry = this.#pending.get(message.id);
      if (!entry) return;
      this.#pending.delete(message.id);
      if (entry.timer) clearTimeout(entry.timer);
      entry.resolve(message.body);
    } else if (type === PKG_HEARTBEAT) {
      this.heartbeats++;
      if (this.#heartbeatTimer || this.#closed) return;
      this.#heartbeatTimer = setTimeout(() => {
        this.#heartbeatTimer = undefined;
        if (!this.#closed) this.#send(encodePackage(PKG_HEARTBEAT));
      }, this.#heartbeatMs);
    } else if (type === PKG_HANDSHAKE) {
      const reply = JSON.parse(body.toString("utf8"));
      if (reply.code !== 200) {
        this.#handshake?.(new Error(`The Pinus handshake was refused with code ${reply.code}`));
        return;
      }
      this.#heartbeatMs = (reply.sys?.heartbeat ?? 0) * 1000;
      this.#send(encodePackage(PKG_HANDSHAKE_ACK));
      const done = this.#handshake;
      this.#handshake = undefined;
      done?.();
    } else if (type === PKG_KICK) {
      this.#closedBy(new Error(`Kicked by the server: ${body.toString("utf8")}`));
      this.#close();
    }
  }

  #closedBy(error) {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#handshake?.(error);
    this.#handshake = undefined;
    for (const [, entry] of this.#pending) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.#pending.clear();
    for (const fn of this.#onClose.splice(0)) fn(error);
  }
}
