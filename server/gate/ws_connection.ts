/**
 * A gate connection carried by a WebSocket: text messages are envelopes, binary messages are
 * frames of type `Envelope`. Answers go back as text until the peer sends a binary frame.
 *
 * The gate speaks RFC 6455 itself over the socket it accepted ({@linkcode WsReceiver} reads,
 * this class writes), so that what one connection may make it hold is bounded: at most
 * `--max-message-bytes` of a message in progress, fragments included, plus a read buffer of at
 * most 64 KiB (bench/FINDINGS.md, finding 9). Writes are queued and leave together once per turn
 * of the event loop, as on framed TCP.
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
  nextSeq,
  State,
} from "../../shared/mod.ts";
import { joinChunks, writeAll } from "../socket_writes.ts";
import { CloseCode, type Connection, type ConnectionEvents } from "./connection.ts";
import { WsOpcode, WsReceiver } from "./ws_receiver.ts";

/** Options of {@linkcode WebSocketConnection}. */
export interface WebSocketConnectionOptions {
  id: number;
  /** The accepted socket, its upgrade request read; the connection owns it from now on. */
  conn: Deno.Conn;
  /** Bytes that came after the upgrade request's head (the first frames, if any). */
  rest?: Uint8Array;
  /** The `101 Switching Protocols` response, written first. */
  handshake: Uint8Array;
  remote: string;
  events: ConnectionEvents;
  types: MessageTypes;
  maxMessageBytes: number;
  /** Called when a message is refused for its size. */
  onOversized?: () => void;
  /** Called when handling a message threw: the connection is closed, the gate goes on. */
  onHandlerError?: (error: unknown) => void;
  /** Called once the socket is closed (the gate's socket budget). */
  onEnd?: () => void;
}

const encoder = new TextEncoder();

/** How long a closing connection has to finish the closing handshake before the gate drops it. */
export const CLOSE_GRACE_MS = 1000;

/** The first read buffer of a connection: small, since most are idle (FINDINGS, finding 9). */
const FIRST_READ_BYTES = 1024;
/** Reads that fill the buffer double it, up to this. */
const MAX_READ_BYTES = 64 * 1024;

/** The length of a server frame's header (FIN set, unmasked) for a payload of `length` bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** Writes a server frame's header at `at` of `into`; returns where the payload begins. */
function writeHeader(into: Uint8Array, at: number, opcode: number, length: number): number {
  into[at] = 0x80 | opcode;
  if (length < 126) {
    into[at + 1] = length;
    return at + 2;
  }
  if (length < 65536) {
    into[at + 1] = 126;
    into[at + 2] = length >> 8;
    into[at + 3] = length & 0xff;
    return at + 4;
  }
  into[at + 1] = 127;
  const view = new DataView(into.buffer, into.byteOffset + at, 10);
  view.setUint32(2, Math.floor(length / 2 ** 32));
  view.setUint32(6, length >>> 0);
  return at + 10;
}

/** A whole server frame, header and payload in one buffer (one allocation, one write). */
function serverFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(headerLength(payload.length) + payload.length);
  frame.set(payload, writeHeader(frame, 0, opcode, payload.length));
  return frame;
}

/**
 * Texts up to this many UTF-16 units are encoded straight into {@linkcode scratch} (at most 3
 * bytes each, so under 65,536 bytes: a 4-byte header at most), then copied out at their exact
 * size: no buffer per encoding and none for the header (bench/FINDINGS.md, finding 9).
 */
const SCRATCH_TEXT_UNITS = 21_845;
const scratch = new Uint8Array(4 + SCRATCH_TEXT_UNITS * 3);

/** A whole server text frame of `text`. */
function textFrame(text: string): Uint8Array {
  if (text.length > SCRATCH_TEXT_UNITS) return serverFrame(WsOpcode.TEXT, encoder.encode(text));
  // Encoded after a 4-byte gap; the header is written right before the payload, whatever its size.
  const { written } = encoder.encodeInto(text, scratch.subarray(4));
  const start = 4 - headerLength(written);
  writeHeader(scratch, start, WsOpcode.TEXT, written);
  return scratch.slice(start, 4 + written);
}

/** A connection over WebSocket. */
export class WebSocketConnection implements Connection {
  readonly id: number;
  readonly transport = "ws" as const;
  readonly remote: string;
  #conn: Deno.Conn;
  /** The options, less the bytes of the upgrade (not kept for the connection's life). */
  #options: Omit<WebSocketConnectionOptions, "rest" | "handshake">;
  #types: MessageTypes;
  #binary = false;
  #seq = 0;
  /** Set once a close frame was sent or received: nothing more is handed to the gate. */
  #closing = false;
  /** Set once the socket is closed. */
  #ended = false;
  #left = false;
  #closeSent = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #scheduled = false;
  #endAfterFlush = false;

  constructor(options: WebSocketConnectionOptions) {
    this.id = options.id;
    this.remote = options.remote;
    this.#conn = options.conn;
    const { rest, handshake, ...kept } = options;
    this.#options = kept;
    this.#types = options.types;
    this.#enqueue(handshake);
    this.#read(rest).catch(() => {}).finally(() => {
      // The peer went away (or the socket failed): nothing more can be read or written.
      if (!this.#endAfterFlush) this.#end();
    });
  }

  get closed(): boolean {
    return this.#closing || this.#ended;
  }

  get unsentBytes(): number {
    return this.#queued;
  }

  async #read(rest: Uint8Array | undefined): Promise<void> {
    const options = this.#options;
    const receiver = new WsReceiver({
      maxMessageBytes: options.maxMessageBytes,
      events: {
        onText: (text) => this.#onText(text),
        onBinary: (bytes) => this.#onBinary(bytes),
        onPing: (bytes) => {
          if (!this.#closing) this.#enqueueFrame(WsOpcode.PONG, bytes);
        },
        onClose: (code) => this.#onPeerClose(code),
      },
    });
    let chunk = rest;
    rest = undefined;
    let buffer = new Uint8Array(FIRST_READ_BYTES);
    while (true) {
      if (chunk && chunk.length > 0) {
        const fault = receiver.push(chunk);
        if (fault && !this.#closing) {
          if (fault.closeCode === CloseCode.TOO_BIG) options.onOversized?.();
          this.sendError(fault.message);
          this.close(fault.message, fault.closeCode);
        }
        // After a close frame, wait for the socket to end (the peer closes it, or the grace).
        // The chunk may be the upgrade's head buffer: not kept while the connection is idle.
        chunk = undefined;
      }
      if (this.#ended) return;
      const n = await this.#conn.read(buffer);
      if (n === null) return;
      chunk = buffer.subarray(0, n);
      if (n === buffer.length && buffer.length < MAX_READ_BYTES) {
        // The next read gets a larger buffer; this one is handed to the receiver first.
        buffer = new Uint8Array(buffer.length * 2);
      }
    }
  }

  #guard(fn: () => void): void {
    if (this.#closing) return;
    // A throw here would end the read loop: it ends only this connection, as on framed TCP.
    try {
      fn();
    } catch (error) {
      this.#options.onHandlerError?.(error);
      this.sendError("The gate could not handle the message", State.FAIL);
      this.close("The gate could not handle the message", CloseCode.INTERNAL_ERROR);
    }
  }

  #onText(text: string): void {
    this.#guard(() => this.#options.events.onText(this, text));
  }

  #onBinary(bytes: Uint8Array): void {
    this.#guard(() => {
      this.#binary = true;
      let text: string;
      try {
        const frame = decodeFrame(bytes, this.#options.maxMessageBytes);
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
      this.#options.events.onText(this, text);
    });
  }

  #onPeerClose(code: number | undefined): void {
    if (!this.#closeSent) {
      // Answer the closing handshake with the peer's code, then end once it has left.
      this.#closeSent = true;
      this.#closing = true;
      this.#enqueueFrame(WsOpcode.CLOSE, code === undefined ? new Uint8Array(0) : closeBody(code));
    }
    this.#endWhenFlushed();
  }

  sendText(text: string): void {
    if (this.closed) return;
    if (this.#binary) {
      this.#enqueueFrame(
        WsOpcode.BINARY,
        encodeFrame({ seq: this.#nextSeq(), type: this.#types.number("Envelope"), body: text }),
      );
    } else {
      this.#enqueue(textFrame(text));
    }
  }

  sendUtf8(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.#binary) {
      this.#enqueueFrame(
        WsOpcode.BINARY,
        encodeFrame({ seq: this.#nextSeq(), type: this.#types.number("Envelope"), body: bytes }),
      );
    } else {
      this.#enqueueFrame(WsOpcode.TEXT, bytes);
    }
  }

  sendError(msg: string, code: number = State.BAD_REQUEST): void {
    if (this.closed) return;
    if (this.#binary) {
      this.#enqueueFrame(
        WsOpcode.BINARY,
        encodeFrame({
          seq: this.#nextSeq(),
          type: this.#types.number("Error"),
          body: errorBody(msg, code),
        }),
      );
    } else {
      this.#enqueue(textFrame(JSON.stringify(makePush(GateCmd.ERROR, { code, msg }))));
    }
  }

  close(reason: string, code: number = CloseCode.NORMAL): void {
    if (this.#closing || this.#ended) return;
    this.#closing = true;
    this.#closeSent = true;
    // A close reason may hold at most 123 bytes.
    this.#enqueueFrame(WsOpcode.CLOSE, closeBody(code, truncateUtf8(reason, 123)));
    // A peer that reads nothing never answers the closing handshake: after a grace period the
    // gate drops the socket and lets the connection go (its services are told it left).
    this.#graceTimer = setTimeout(() => this.#end(), CLOSE_GRACE_MS);
  }

  #enqueueFrame(opcode: number, payload: Uint8Array): void {
    this.#enqueue(serverFrame(opcode, payload));
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#ended) return;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    // Frames queued in one turn of the event loop leave in one write (FINDINGS, finding 2).
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        if (!this.#writing) this.#flush();
      });
    }
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length && !this.#ended) {
        const chunk = joinChunks(this.#queue, this.#queued);
        this.#queue = [];
        await writeAll(this.#conn, chunk);
        this.#queued -= chunk.length;
      }
    } catch {
      this.#end();
    } finally {
      this.#writing = false;
    }
    if (this.#endAfterFlush) this.#end();
  }

  /** Ends the socket once what is queued has been written (at most the grace period). */
  #endWhenFlushed(): void {
    if (!this.#writing && !this.#scheduled && this.#queue.length === 0) {
      this.#end();
      return;
    }
    this.#endAfterFlush = true;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => this.#end(), CLOSE_GRACE_MS);
  }

  /** Closes the socket and tells the gate the connection is gone, once. */
  #end(): void {
    clearTimeout(this.#graceTimer);
    if (this.#ended) return;
    this.#ended = true;
    this.#closing = true;
    this.#queue = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.#options.onEnd?.();
    if (!this.#left) {
      this.#left = true;
      this.#options.events.onClose(this);
    }
  }

  #nextSeq(): number {
    this.#seq = nextSeq(this.#seq);
    return this.#seq;
  }
}

/** A close frame's payload: the code, then the reason's UTF-8. */
function closeBody(code: number, reason = ""): Uint8Array {
  const text = encoder.encode(reason);
  const body = new Uint8Array(2 + text.length);
  body[0] = code >> 8;
  body[1] = code & 0xff;
  body.set(text, 2);
  return body;
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
