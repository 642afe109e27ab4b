/**
 * A gate connection carried by framed TCP: each frame of type `Envelope` holds one envelope.
 * Reading and writing are the shared {@linkcode FramedLink} (server/framed_link.ts, also the
 * license server's): writes are queued and coalesced, so that many messages leave in one socket
 * write.
 *
 * @module
 */

import {
  errorBody,
  type Frame,
  frameText,
  type MessageTypes,
  nextSeq,
  State,
} from "../../shared/mod.ts";
import { FramedLink, type LinkEnd } from "../framed_link.ts";
import type { Connection, ConnectionEvents } from "./connection.ts";

/** Options of {@linkcode TcpConnection}. */
export interface TcpConnectionOptions {
  id: number;
  conn: Deno.Conn;
  events: ConnectionEvents;
  types: MessageTypes;
  maxMessageBytes: number;
  /** Called when a frame is refused for its size. */
  onOversized?: () => void;
  /** Called once the socket is closed (the gate's socket budget). */
  onEnd?: () => void;
}

/** A connection over framed TCP. */
export class TcpConnection implements Connection {
  readonly id: number;
  readonly transport = "tcp" as const;
  readonly remote: string;
  #link: FramedLink;
  #types: MessageTypes;
  #events: ConnectionEvents;
  #envelopeType: number;
  #seq = 0;
  #closing = false;
  #closed = false;
  #onEnd?: () => void;
  #onOversized?: () => void;

  constructor(options: TcpConnectionOptions) {
    this.id = options.id;
    const addr = options.conn.remoteAddr as Deno.NetAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
    this.#types = options.types;
    this.#events = options.events;
    this.#onEnd = options.onEnd;
    this.#onOversized = options.onOversized;
    this.#envelopeType = this.#types.number("Envelope");
    this.#link = new FramedLink(options.conn, {
      maxFrameBytes: options.maxMessageBytes,
      onClose: () => this.#finish(),
      // #onFrame decodes the text at once and keeps no bytes.
      viewFrames: true,
    });
    // When reading stops because the gate is closing (a bad header, say), the flush or its
    // grace timer ends the connection, so that the last frames (the Error) leave first.
    this.#link.run({
      onFrame: (frame) => this.#onFrame(frame),
      onEnd: (end) => this.#onReadEnd(end),
    }).catch(() => this.#link.close());
  }

  get closed(): boolean {
    return this.#closing || this.#closed;
  }

  get unsentBytes(): number {
    return this.#link.unsentBytes;
  }

  #onFrame(frame: Frame): void {
    if (frame.type !== this.#envelopeType) {
      this.#events.onActivity?.(this);
      this.sendError(`Message type ${frame.type} is not one the gate accepts`);
      return;
    }
    let text: string;
    try {
      text = frameText(frame);
    } catch {
      this.#events.onActivity?.(this);
      this.sendError("The frame's string body is not valid UTF-8");
      return;
    }
    this.#events.onText(this, text);
  }

  #onReadEnd(end: LinkEnd): void {
    if (end.cause === "fault" && end.fault && !this.#closing) {
      if (end.fault.fault === "TOO_LARGE") this.#onOversized?.();
      this.sendError(end.fault.message);
      this.close(end.fault.message);
    } else if (!this.#closing) {
      this.#link.close();
    }
  }

  sendText(text: string): void {
    this.#link.queueFrame({ seq: this.#nextSeq(), type: this.#envelopeType, body: text });
  }

  sendUtf8(bytes: Uint8Array): void {
    this.#link.queueFrame({ seq: this.#nextSeq(), type: this.#envelopeType, body: bytes });
  }

  sendError(msg: string, code: number = State.BAD_REQUEST): void {
    this.#link.queueFrame({
      seq: this.#nextSeq(),
      type: this.#types.number("Error"),
      body: errorBody(msg, code),
    });
  }

  close(_reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    // Let the last frames (an Error, a kick) leave first, but not for long.
    this.#link.closeAfterFlush(1000);
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#link.close();
    this.#onEnd?.();
    this.#events.onClose(this);
  }

  #nextSeq(): number {
    this.#seq = nextSeq(this.#seq);
    return this.#seq;
  }
}
