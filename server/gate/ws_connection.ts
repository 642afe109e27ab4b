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
}

const encoder = new TextEncoder();

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

  constructor(options: WebSocketConnectionOptions) {
    this.id = options.id;
    this.remote = options.remote;
    this.bucket = options.bucket;
    this.#socket = options.socket;
    this.#types = options.types;
    const socket = options.socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event: MessageEvent) => {
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
    };
    socket.onclose = () => {
      this.#closed = true;
      options.events.onClose(this);
    };
    socket.onerror = () => {};
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
    try {
      // A close reason may hold at most 123 bytes.
      this.#socket.close(code, truncateUtf8(reason, 123));
    } catch {
      // Already closing.
    }
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }
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
