/**
 * One framed-TCP connection on the server side, shared by the gate's TCP port
 * (`gate/tcp_connection.ts`) and the license server (`license/license_server.ts`): it reads
 * frames with the shared {@linkcode FrameDecoder}, queues writes in order with an optional cap
 * on unsent bytes, and writes every frame queued in one turn of the event loop in one socket
 * write (bench/FINDINGS.md, finding 2: one syscall per turn, not one per frame).
 *
 * The read buffer starts small (4 KiB) and doubles, up to `readBufferBytes`, after each read that
 * fills it; after a few reads in a row that use a quarter of it or less it goes back to 4 KiB. An
 * idle client connection (one small exchange, then a read that waits) thus holds 4 KiB, not 64
 * (bench/FINDINGS.md, finding 12), while a busy service link reads big chunks.
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

import { encodeFrameInto, type Frame, FrameDecoder, FrameError } from "../shared/frame.ts";
import { writeAll } from "./socket_writes.ts";
import { FRAME_HEADER_BYTES } from "../shared/limits.ts";

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
  /**
   * Largest read buffer, which a link grows to while its reads fill the buffer; 64 KiB when
   * absent. Reads start with {@linkcode MIN_READ_BUFFER_BYTES} (or this, when smaller).
   */
  readBufferBytes?: number;
  /** The clock that stamps {@linkcode FramedLink.receivedAt}; `Date.now` when absent. */
  clock?: () => number;
  /**
   * Hand `onFrame` frames that view the read buffer instead of copies (FrameDecoder's `views`):
   * for handlers that keep none of a frame's bytes past the call. Default false.
   */
  viewFrames?: boolean;
}

const READ_BUFFER_BYTES = 64 * 1024;

/** Bytes of a link's read buffer while its reads are small, and when it starts. */
export const MIN_READ_BUFFER_BYTES = 4 * 1024;

/** The least a turn's write buffer starts with. */
const MIN_OUT_BYTES = 1024;

/** The most a turn's write buffer starts with (it grows past it when needed). */
const MAX_OUT_HINT_BYTES = 64 * 1024;

/** Reads in a row using a quarter of the buffer or less after which it shrinks back. */
const SHRINK_AFTER_SMALL_READS = 4;

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
  #maxReadBytes: number;
  #readBuffer: Uint8Array;
  #smallReads = 0;
  /** The bytes queued in this turn, encoded straight into it (see {@linkcode sendFrame}). */
  #out: Uint8Array | undefined;
  #outLength = 0;
  /** How large the next turn's buffer starts: the last flush's size, within bounds. */
  #outHint = MIN_OUT_BYTES;
  /** Bytes queued and being written. */
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
    this.#decoder = new FrameDecoder({
      maxFrameBytes: options.maxFrameBytes,
      views: options.viewFrames,
    });
    this.#maxQueued = options.maxQueuedBytes ?? Infinity;
    this.#schedule = options.schedule ?? queueMicrotask;
    this.#onClose = options.onClose;
    this.#maxReadBytes = Math.max(1, options.readBufferBytes ?? READ_BUFFER_BYTES);
    this.#readBuffer = new Uint8Array(Math.min(MIN_READ_BUFFER_BYTES, this.#maxReadBytes));
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

  /** Bytes of the buffer the next read uses: small while reads are small, larger while busy. */
  get readBufferBytes(): number {
    return this.#readBuffer.length;
  }

  /** Reads until the connection ends; resolves after `onEnd`. */
  async run(handlers: FramedLinkHandlers): Promise<void> {
    let end: LinkEnd | undefined;
    while (!end) {
      const buffer = this.#readBuffer;
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
        // The decoder copies what it keeps, so the buffer may be replaced right after; frames
        // that view it (`viewFrames`) are handled below, before the next read writes it again.
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
      this.#sizeReadBuffer(n);
    }
    handlers.onEnd(end);
  }

  /** Doubles the read buffer after a read that filled it; shrinks it after small reads. */
  #sizeReadBuffer(n: number): void {
    const size = this.#readBuffer.length;
    if (n >= size) {
      this.#smallReads = 0;
      if (size < this.#maxReadBytes) {
        this.#readBuffer = new Uint8Array(Math.min(size * 2, this.#maxReadBytes));
      }
      return;
    }
    const min = Math.min(MIN_READ_BUFFER_BYTES, this.#maxReadBytes);
    if (size <= min || n > size / 4) {
      this.#smallReads = 0;
      return;
    }
    if (++this.#smallReads >= SHRINK_AFTER_SMALL_READS) {
      this.#smallReads = 0;
      this.#readBuffer = new Uint8Array(min);
    }
  }

  /** Queues a frame; returns false when the link is closed or was closed for lagging. */
  sendFrame(frame: { seq: number; type: number; body: string | Uint8Array }): boolean {
    if (this.closed) return false;
    return this.queueFrame(frame);
  }

  /**
   * Queues a frame, encoded straight into this turn's buffer (no buffer of its own: one per
   * frame cost more than its encoding, bench/FINDINGS.md, finding 19). Like {@linkcode send},
   * it is refused only once the link is closed, not while it closes after a flush; returns
   * false when the link is closed or is closed now because its unsent bytes passed the cap.
   */
  queueFrame(frame: { seq: number; type: number; body: string | Uint8Array }): boolean {
    if (this.#closed) return false;
    const body = frame.body;
    // A string's UTF-8 takes at most 3 bytes a UTF-16 unit.
    const out = this.#room(
      FRAME_HEADER_BYTES + (typeof body === "string" ? body.length * 3 : body.length),
    );
    const written = encodeFrameInto(out, { at: this.#outLength, ...frame });
    return this.#queued(written);
  }

  /**
   * Queues encoded frame bytes (copied: they may be reused); returns false when the link is
   * closed or is closed now because its unsent bytes passed the cap.
   */
  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    this.#room(bytes.length).set(bytes, this.#outLength);
    return this.#queued(bytes.length);
  }

  /** This turn's buffer, with room for `bytes` more after its `#outLength`. */
  #room(bytes: number): Uint8Array {
    const need = this.#outLength + bytes;
    let out = this.#out;
    if (out && need <= out.length) return out;
    out = new Uint8Array(Math.max(need, this.#outHint, (out?.length ?? 0) * 2));
    if (this.#out) out.set(this.#out.subarray(0, this.#outLength));
    this.#out = out;
    return out;
  }

  /** Counts `bytes` just written into this turn's buffer, closes a lagging link, schedules. */
  #queued(bytes: number): boolean {
    this.#outLength += bytes;
    this.#queuedBytes += bytes;
    if (this.#queuedBytes > this.#maxQueued) {
      this.close();
      return false;
    }
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
    this.#out = undefined;
    this.#outLength = 0;
    this.#queuedBytes = 0;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#onClose?.();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#outLength > 0 && !this.#closed) {
        // The buffer leaves with its bytes; the next frames start a new one.
        const chunk = this.#out!.subarray(0, this.#outLength);
        this.#outHint = Math.min(Math.max(chunk.length, MIN_OUT_BYTES), MAX_OUT_HINT_BYTES);
        this.#out = undefined;
        this.#outLength = 0;
        await writeAll(this.#conn, chunk);
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
