/**
 * One framed-TCP connection of the license server: reads frames with the shared
 * {@linkcode FrameDecoder}, queues writes in order with a cap on unsent bytes, and reports how
 * the connection ended (a header fault, the peer closing, possibly inside a frame, or us).
 *
 * @module
 */

import { encodeFrame, type Frame, FrameDecoder, FrameError } from "../../shared/frame.ts";

/** How a connection's reading ended. */
export interface ConnEnd {
  /** `fault`: a header failed its checks; `eof`: the peer closed; `closed`: we closed it. */
  cause: "fault" | "eof" | "closed";
  /** The header fault, when `cause` is `fault`. */
  fault?: FrameError;
  /** Bytes of an incomplete frame held when the peer closed. */
  truncatedBytes: number;
}

/** What a {@linkcode FramedConn} reports. */
export interface FramedConnHandlers {
  /** A whole frame arrived. */
  onFrame(frame: Frame): void;
  /** Reading ended; called once. The connection may still flush what was queued before. */
  onEnd(end: ConnEnd): void;
}

/** Options of {@linkcode FramedConn}. */
export interface FramedConnOptions {
  /** The server's id for the connection. */
  id: number;
  /** Largest frame accepted. */
  maxFrameBytes: number;
  /** Unsent bytes past which a slow reader is closed. */
  maxQueuedBytes: number;
}

const READ_BUFFER_BYTES = 64 * 1024;

/** A framed connection over a Deno TCP connection. */
export class FramedConn {
  /** The server's id for the connection, unique for the server's lifetime. */
  readonly id: number;
  /** The peer address, `host:port`. */
  readonly remote: string;
  /** When the last whole frame arrived (or the connection opened), ms since epoch. */
  lastReceived: number = Date.now();
  #conn: Deno.Conn;
  #decoder: FrameDecoder;
  #maxQueued: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #closing = false;
  #closed = false;
  #seq = 0;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;

  /** Wraps an accepted TCP connection. */
  constructor(conn: Deno.Conn, options: FramedConnOptions) {
    this.#conn = conn;
    this.id = options.id;
    this.#decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes });
    this.#maxQueued = options.maxQueuedBytes;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch { /* not a TCP connection */ }
  }

  /** Whether the connection is closed or closing. */
  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  /** Bytes of an incomplete frame held by the decoder. */
  get bufferedInputBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  /** The next sequence number for a frame this side starts (1, 2, … wrapping past 2³²−1). */
  nextSeq(): number {
    this.#seq = this.#seq >= 0xffff_ffff ? 1 : this.#seq + 1;
    return this.#seq;
  }

  /** Reads until the connection ends; resolves after `onEnd`. */
  async run(handlers: FramedConnHandlers): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let end: ConnEnd | undefined;
    while (!end) {
      let n: number | null;
      try {
        n = await this.#conn.read(buffer);
      } catch {
        n = null;
        if (this.#closed) end = { cause: "closed", truncatedBytes: 0 };
      }
      if (end) break;
      if (n === null) {
        end = {
          cause: this.#closed ? "closed" : "eof",
          truncatedBytes: this.#decoder.bufferedBytes,
        };
        break;
      }
      let frames: Frame[];
      try {
        frames = this.#decoder.push(buffer.subarray(0, n));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        end = { cause: "fault", fault: error, truncatedBytes: 0 };
        break;
      }
      for (const frame of frames) {
        if (this.closed) break;
        this.lastReceived = Date.now();
        handlers.onFrame(frame);
      }
    }
    handlers.onEnd(end);
  }

  /** Queues a frame; returns false when the connection is closed or was closed for lagging. */
  send(frame: { seq: number; type: number; body: string }): boolean {
    if (this.closed) return false;
    const bytes = encodeFrame(frame);
    if (this.#queuedBytes + bytes.length > this.#maxQueued) {
      this.close();
      return false;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    void this.#pump();
    return true;
  }

  /**
   * Closes once everything queued so far is written, or after `graceMs` when a peer that does
   * not read keeps the write from finishing.
   */
  closeAfterFlush(graceMs = 1000): void {
    if (this.closed) return;
    this.#closing = true;
    if (!this.#writing) {
      this.close();
      return;
    }
    this.#graceTimer = setTimeout(() => this.close(), graceMs);
  }

  /** Closes now; unsent frames are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = false;
    clearTimeout(this.#graceTimer);
    this.#queue = [];
    this.#queuedBytes = 0;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #pump(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = this.#queue[0];
        let offset = 0;
        while (offset < chunk.length) {
          offset += await this.#conn.write(chunk.subarray(offset));
        }
        if (this.#closed) break;
        this.#queue.shift();
        this.#queuedBytes -= chunk.length;
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
    if (this.#closing) this.close();
  }
}
