/**
 * One framed-TCP connection on the server side, shared by the gate's TCP port
 * (`gate/tcp_connection.ts`) and the license server (`license/license_server.ts`): it reads
 * frames with the shared {@linkcode FrameDecoder}, queues writes in order with an optional cap
 * on unsent bytes, and writes every frame queued in one turn of the event loop in one socket
 * write (bench/FINDINGS.md, finding 2: one syscall per turn, not one per frame).
 *
 * When the writes go out is the owner's choice: by default a microtask after the first frame of a
 * turn is queued; the license server passes its own `schedule`, which flushes after the turn's
 * audit rows are committed.
 *
 * @example
 * ```ts ignore
 * import { FramedLink } from "./framed_link.ts";
 * const link = new FramedLink(conn, { maxFrameBytes: 1 << 20 });
 * void link.run({
 *   onFrame: (frame) => link.sendFrame({ seq: frame.seq, type: frame.type, body: "{}" }),
 *   onEnd: (end) => console.log(end.cause),
 * });
 * ```
 * @module
 */

import { encodeFrame, type Frame, FrameDecoder, FrameError } from "../shared/frame.ts";

/** How a link's reading ended. */
export interface LinkEnd {
  /** `fault`: a header failed its checks; `eof`: the peer closed; `closed`: we closed it. */
  cause: "fault" | "eof" | "closed";
  /** The header fault, when `cause` is `fault`. */
  fault?: FrameError;
  /** Bytes of an incomplete frame held when the peer closed. */
  truncatedBytes: number;
}

/** What a {@linkcode FramedLink} reports while it reads. */
export interface FramedLinkHandlers {
  /**
   * A whole frame arrived. Frames that came before a faulty header in the same read are
   * delivered before `onEnd` reports the fault.
   */
  onFrame(frame: Frame): void;
  /** Reading ended; called once. The link may still flush what was queued before. */
  onEnd(end: LinkEnd): void;
}

/** Options of {@linkcode FramedLink}. */
export interface FramedLinkOptions {
  /** Largest frame accepted. */
  maxFrameBytes: number;
  /** Unsent bytes past which a slow reader is closed; no cap when absent. */
  maxQueuedBytes?: number;
  /**
   * Runs `flush` once the frames of this turn are queued; `queueMicrotask` when absent. Called
   * once per burst: not again until `flush` has run.
   */
  schedule?: (flush: () => void) => void;
  /** Called once, when the socket is closed. */
  onClose?: () => void;
  /** Bytes of the read buffer; 64 KiB when absent. */
  readBufferBytes?: number;
  /** The clock that stamps {@linkcode FramedLink.receivedAt}; `Date.now` when absent. */
  clock?: () => number;
}

const READ_BUFFER_BYTES = 64 * 1024;

/** A framed connection over an accepted Deno TCP connection. */
export class FramedLink {
  /** When the last whole frame was read (or the link opened), ms since epoch. */
  lastReceived: number = Date.now();
  /** The same moment on the owner's clock (`clock`). */
  receivedAt: number;
  #clock: () => number;
  #conn: Deno.Conn;
  #decoder: FrameDecoder;
  #maxQueued: number;
  #schedule: (flush: () => void) => void;
  #onClose?: () => void;
  #readBufferBytes: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #scheduled = false;
  #writing = false;
  #closing = false;
  #closed = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #flushNow = () => {
    this.#scheduled = false;
    if (!this.#writing) void this.#pump();
  };

  /** Wraps an accepted connection; turns Nagle's delay off on TCP. */
  constructor(conn: Deno.Conn, options: FramedLinkOptions) {
    this.#conn = conn;
    this.#decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes });
    this.#maxQueued = options.maxQueuedBytes ?? Infinity;
    this.#schedule = options.schedule ?? queueMicrotask;
    this.#onClose = options.onClose;
    this.#readBufferBytes = options.readBufferBytes ?? READ_BUFFER_BYTES;
    this.#clock = options.clock ?? Date.now;
    this.receivedAt = this.#clock();
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch { /* not a TCP connection */ }
  }

  /** The peer's address. */
  get remoteAddr(): Deno.NetAddr {
    return this.#conn.remoteAddr as Deno.NetAddr;
  }

  /** Whether the link is closed or closing. */
  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  /** Bytes queued and not yet written. */
  get unsentBytes(): number {
    return this.#queuedBytes;
  }

  /** Bytes of an incomplete frame held by the decoder. */
  get bufferedInputBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  /** Reads until the connection ends; resolves after `onEnd`. */
  async run(handlers: FramedLinkHandlers): Promise<void> {
    const buffer = new Uint8Array(this.#readBufferBytes);
    let end: LinkEnd | undefined;
    while (!end) {
      let n: number | null;
      try {
        n = this.closed ? null : await this.#conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        end = this.closed
          ? { cause: "closed", truncatedBytes: 0 }
          : { cause: "eof", truncatedBytes: this.#decoder.bufferedBytes };
        break;
      }
      let frames: Frame[];
      try {
        frames = this.#decoder.push(buffer.subarray(0, n));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        frames = error.framesBefore;
        end = { cause: "fault", fault: error, truncatedBytes: 0 };
      }
      if (frames.length > 0) {
        this.lastReceived = Date.now();
        this.receivedAt = this.#clock();
      }
      for (const frame of frames) {
        if (this.closed) break;
        handlers.onFrame(frame);
      }
      if (this.closed && !end) end = { cause: "closed", truncatedBytes: 0 };
    }
    handlers.onEnd(end);
  }

  /** Queues a frame; returns false when the link is closed or was closed for lagging. */
  sendFrame(frame: { seq: number; type: number; body: string }): boolean {
    if (this.closed) return false;
    return this.send(encodeFrame(frame));
  }

  /**
   * Queues encoded frame bytes (they are not copied; do not reuse them); returns false when the
   * link is closed or is closed now because its unsent bytes passed the cap.
   */
  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#queuedBytes + bytes.length > this.#maxQueued) {
      this.close();
      return false;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(this.#flushNow);
    }
    return true;
  }

  /**
   * Closes once everything queued so far is written, or after `graceMs` when a peer that does
   * not read keeps the write from finishing.
   */
  closeAfterFlush(graceMs = 1000): void {
    if (this.closed) return;
    this.#closing = true;
    if (!this.#writing && !this.#scheduled) {
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
    this.#onClose?.();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        let chunk: Uint8Array;
        if (this.#queue.length === 1) {
          chunk = this.#queue[0];
        } else {
          chunk = new Uint8Array(this.#queuedBytes);
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
        if (this.#closed) break;
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
