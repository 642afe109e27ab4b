/**
 * A gate connection carried by a WebSocket: text messages are envelopes, binary messages are
 * frames of type `Envelope`. Answers go back as text until the peer sends a binary frame.
 *
 * @module
 */

import {
  decodeFrame,
  encodeFrame,
  errorBody,
  FrameError,
  frameText,
  GateCmd,
  makePush,
  type MessageTypes,
  State,
} from "../../shared/mod.ts";
import {
  CloseCode,
  type Connection,
  type ConnectionEvents,
  type ServiceInfo,
} from "./connection.ts";
import type { TokenBucket } from "./token_bucket.ts";

/** Options of {@linkcode WebSocketConnection}. */
export interface WebSocketConnectionOptions {
  id: number;
  socket: WebSocket;
  remote: string;
  bucket: TokenBucket;
  events: ConnectionEvents;
  types: MessageTypes;
  maxMessageBytes: number;
  /** Called with a sentence when a message is refused for its size. */
  onOversized?: () => void;
  /** Called when handling a message threw: the connection is closed, the gate goes on. */
  onHandlerError?: (error: unknown) => void;
}

const encoder = new TextEncoder();

/** How long a closing connection has to finish the closing handshake before the gate drops it. */
export const CLOSE_GRACE_MS = 1000;

/** A connection over WebSocket. */
export class WebSocketConnection implements Connection {
  readonly id: number;
  readonly transport = "ws" as const;
  readonly remote: string;
  readonly bucket: TokenBucket;
  userId = 0;
  token?: string;
  service?: ServiceInfo;
  lastSeen = performance.now();
  inflight = 0;
  #socket: WebSocket;
  #types: MessageTypes;
  #binary = false;
  #seq = 0;
  #closed = false;
  #left = false;
  #leaveTimer: ReturnType<typeof setTimeout> | undefined;
  #events: ConnectionEvents;

  constructor(options: WebSocketConnectionOptions) {
    this.id = options.id;
    this.remote = options.remote;
    this.bucket = options.bucket;
    this.#socket = options.socket;
    this.#types = options.types;
    const socket = options.socket;
    socket.binaryType = "arraybuffer";
    // An exception thrown here would be uncaught and end the gate's process: it ends only this
    // connection, as on framed TCP.
    socket.onmessage = (event: MessageEvent) => {
      try {
        this.#onMessage(event, options);
      } catch (error) {
        options.onHandlerError?.(error);
        this.sendError("The gate could not handle the message", State.FAIL);
        this.close("The gate could not handle the message", CloseCode.INTERNAL_ERROR);
      }
    };
    this.#events = options.events;
    socket.onclose = () => {
      this.#closed = true;
      this.#leave();
    };
    socket.onerror = () => {};
  }

  #onMessage(event: MessageEvent, options: WebSocketConnectionOptions): void {
    if (this.#closed) return;
    const data = event.data;
    if (typeof data === "string") {
      // A UTF-16 length over the limit, or its UTF-8 size, is over the limit.
      if (
        data.length > options.maxMessageBytes ||
        (data.length * 3 > options.maxMessageBytes &&
          encoder.encode(data).length > options.maxMessageBytes)
      ) {
        options.onOversized?.();
        this.sendError(`The message is over the limit of ${options.maxMessageBytes} bytes`);
        this.close(`Message over ${options.maxMessageBytes} bytes`, CloseCode.TOO_BIG);
        return;
      }
      options.events.onText(this, data);
      return;
    }
    const bytes = new Uint8Array(data as ArrayBuffer);
    this.#binary = true;
    if (bytes.length > options.maxMessageBytes) {
      options.onOversized?.();
      this.sendError(`The frame is over the limit of ${options.maxMessageBytes} bytes`);
      this.close(`Frame over ${options.maxMessageBytes} bytes`, CloseCode.TOO_BIG);
      return;
    }
    let text: string;
    try {
      const frame = decodeFrame(bytes, options.maxMessageBytes);
      if (frame.type !== this.#types.number("Envelope")) {
        this.sendError(`Message type ${frame.type} is not one the gate accepts`);
        return;
      }
      text = frameText(frame);
    } catch (error) {
      if (error instanceof FrameError) {
        this.sendError(error.message);
        this.close(error.message, CloseCode.PROTOCOL_ERROR);
      } else {
        this.sendError("The frame's string body is not valid UTF-8");
      }
      return;
    }
    options.events.onText(this, text);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get unsentBytes(): number {
    return this.#socket.bufferedAmount;
  }

  sendText(text: string): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    if (this.#binary) {
      this.#socket.send(
        encodeFrame({ seq: this.#nextSeq(), type: this.#types.number("Envelope"), body: text }),
      );
    } else {
      this.#socket.send(text);
    }
  }

  sendError(msg: string, code: number = State.BAD_REQUEST): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    if (this.#binary) {
      this.#socket.send(
        encodeFrame({
          seq: this.#nextSeq(),
          type: this.#types.number("Error"),
          body: errorBody(msg, code),
        }),
      );
    } else {
      this.#socket.send(JSON.stringify(makePush(GateCmd.ERROR, { code, msg })));
    }
  }

  close(reason: string, code: number = CloseCode.NORMAL): void {
    if (this.#closed) return;
    this.#closed = true;
    // A peer that reads nothing never answers the closing handshake, and Deno's WebSocket has no
    // way to abort the socket under it: after a grace period the gate lets the connection go all
    // the same (its services are told it left); the socket itself, holding at most the unsent
    // bytes it had, ends when the peer reads or goes away.
    this.#leaveTimer = setTimeout(() => this.#leave(), CLOSE_GRACE_MS);
    try {
      // A close reason may hold at most 123 bytes.
      this.#socket.close(code, truncateUtf8(reason, 123));
    } catch {
      // Already closing.
    }
  }

  /** Tells the gate the connection is gone, once. */
  #leave(): void {
    clearTimeout(this.#leaveTimer);
    if (this.#left) return;
    this.#left = true;
    this.#events.onClose(this);
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }
}

/** How long a refused WebSocket's peer must be quiet before it is closed. */
export const REFUSE_QUIET_MS = 100;

/** The longest a refused WebSocket stays open. */
export const REFUSE_MAX_MS = 1000;

/**
 * Refuses an upgraded WebSocket (the gate is at its connection limit): closes it with 1013 and
 * `reason` once the peer has been quiet for {@linkcode REFUSE_QUIET_MS} (at most
 * {@linkcode REFUSE_MAX_MS} after it opened), and answers each message it sends meanwhile with
 * `sc_msg_error` naming the reason. Closing at once would lose the reason for a peer that talks
 * first: Deno drops the TCP connection when a message arrives after `close()`, and the reset can
 * destroy the close frame before the peer reads it.
 */
export function refuseWebSocket(socket: WebSocket, reason: string): void {
  let openedAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tell = () => {
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify(makePush(GateCmd.ERROR, { code: State.SERVER_BUSY, msg: reason })));
  };
  const close = () => {
    try {
      socket.close(CloseCode.TRY_AGAIN_LATER, truncateUtf8(reason, 123));
    } catch { /* already closing */ }
  };
  const closeWhenQuiet = () => {
    clearTimeout(timer);
    const left = REFUSE_MAX_MS - (performance.now() - openedAt);
    timer = setTimeout(close, Math.max(0, Math.min(REFUSE_QUIET_MS, left)));
  };
  socket.onopen = () => {
    openedAt = performance.now();
    closeWhenQuiet();
  };
  socket.onmessage = () => {
    tell();
    closeWhenQuiet();
  };
  socket.onclose = () => clearTimeout(timer);
  socket.onerror = () => {};
}

/** Cuts text to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (encoder.encode(text).length <= maxBytes) return text;
  let out = "";
  for (const ch of text) {
    if (encoder.encode(out + ch).length > maxBytes) break;
    out += ch;
  }
  return out;
}
