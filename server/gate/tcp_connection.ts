/**
 * A gate connection carried by framed TCP: each frame of type `Envelope` holds one envelope.
 * Writes are queued and coalesced, so that many messages leave in one socket write.
 *
 * @module
 */

import {
  encodeFrame,
  errorBody,
  type Frame,
  FrameDecoder,
  FrameError,
  frameText,
  type MessageTypes,
  State,
} from "../../shared/mod.ts";
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
  #conn: Deno.Conn;
  #types: MessageTypes;
  #events: ConnectionEvents;
  #seq = 0;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #scheduled = false;
  #closing = false;
  #closed = false;
  #closeAfterFlush = false;
  #onEnd?: () => void;

  constructor(options: TcpConnectionOptions) {
    this.id = options.id;
    this.#conn = options.conn;
    const addr = options.conn.remoteAddr as Deno.NetAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
    this.#types = options.types;
    this.#events = options.events;
    this.#onEnd = options.onEnd;
    // When reading stops because the gate is closing (a bad header, say), the flush or its
    // grace timer ends the connection, so that the last frames (the Error) leave first.
    this.#read(options).catch(() => {}).finally(() => {
      if (!this.#closeAfterFlush) this.#finish();
    });
  }

  get closed(): boolean {
    return this.#closing || this.#closed;
  }

  get unsentBytes(): number {
    return this.#queued;
  }

  async #read(options: TcpConnectionOptions): Promise<void> {
    const decoder = new FrameDecoder({ maxFrameBytes: options.maxMessageBytes });
    const envelopeType = this.#types.number("Envelope");
    const buffer = new Uint8Array(64 * 1024);
    while (!this.#closing) {
      const n = await this.#conn.read(buffer);
      if (n === null) return;
      let frames: Frame[];
      let fault: FrameError | undefined;
      try {
        frames = decoder.push(buffer.subarray(0, n));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        frames = error.framesBefore;
        fault = error;
      }
      for (const frame of frames) {
        if (this.#closing) return;
        if (frame.type !== envelopeType) {
          this.#events.onActivity?.(this);
          this.sendError(`Message type ${frame.type} is not one the gate accepts`);
          continue;
        }
        let text: string;
        try {
          text = frameText(frame);
        } catch {
          this.#events.onActivity?.(this);
          this.sendError("The frame's string body is not valid UTF-8");
          continue;
        }
        this.#events.onText(this, text);
      }
      if (fault) {
        if (fault.fault === "TOO_LARGE") options.onOversized?.();
        this.sendError(fault.message);
        this.close(fault.message);
        return;
      }
    }
  }

  sendText(text: string): void {
    this.#enqueue(
      encodeFrame({ seq: this.#nextSeq(), type: this.#types.number("Envelope"), body: text }),
    );
  }

  sendError(msg: string, code: number = State.BAD_REQUEST): void {
    this.#enqueue(
      encodeFrame({
        seq: this.#nextSeq(),
        type: this.#types.number("Error"),
        body: errorBody(msg, code),
      }),
    );
  }

  close(_reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#writing || this.#queue.length) {
      // Let the last frames (an Error, a kick) leave first, but not for long.
      this.#closeAfterFlush = true;
      setTimeout(() => this.#finish(), 1000);
    } else {
      this.#finish();
    }
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    // Frames queued in one turn of the event loop leave in one write (bench/FINDINGS.md,
    // finding 2): a service link carrying many clients' requests makes one syscall, not one each.
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
      while (this.#queue.length && !this.#closed) {
        let chunk: Uint8Array;
        if (this.#queue.length === 1) {
          chunk = this.#queue[0];
        } else {
          chunk = new Uint8Array(this.#queued);
          let offset = 0;
          for (const part of this.#queue) {
            chunk.set(part, offset);
            offset += part.length;
          }
        }
        this.#queue = [];
        let written = 0;
        while (written < chunk.length) {
          written += await this.#conn.write(chunk.subarray(written));
        }
        this.#queued -= chunk.length;
      }
    } catch {
      this.#finish();
    } finally {
      this.#writing = false;
    }
    if (this.#closeAfterFlush) this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#queue = [];
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.#onEnd?.();
    this.#events.onClose(this);
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }
}
