/**
 * The 32-byte frame of framed TCP and WebSocket binary messages (DESIGN.md, "Frames"): an
 * encoder, and a streaming decoder that copes with a frame split over many reads or many frames
 * in one read, and checks the sync bytes and lengths before it allocates.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./frame.ts";
 * const bytes = encodeFrame({ seq: 1, type: 100, body: '{"cmd":"x"}' });
 * const decoder = new FrameDecoder();
 * const [frame] = decoder.push(bytes);
 * frame.type; // 100
 * ```
 * @module
 */

import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES } from "./limits.ts";
import { decodeStrictUtf8 } from "./utf8.ts";

/** The four bytes every frame starts with. */
export const SYNC_BYTES: readonly number[] = [0x09, 0x6f, 0x01, 0x01];

/** Largest value a header integer can hold. */
export const MAX_U32 = 0xffff_ffff;

/**
 * The sequence number a sender puts on its next frame, given the one it sent last (0 before the
 * first): one more, and 1 again after 2^32 − 1, so that 0 is never sent as a fresh number
 * (shared/PROTOCOL.md, "Sequence numbers").
 *
 * @example
 * ```ts
 * import { nextSeq } from "./frame.ts";
 * nextSeq(0); // 1
 * nextSeq(0xffff_ffff); // 1
 * ```
 */
export function nextSeq(seq: number): number {
  return seq >= MAX_U32 ? 1 : seq + 1;
}

/** A decoded frame. */
export interface Frame {
  /** Sequence number, increasing per sender. */
  seq: number;
  /** Message type (see the message-type table). */
  type: number;
  /** The string body's bytes (UTF-8, usually a JSON envelope). */
  body: Uint8Array;
  /** The binary data after the string body, may be empty. */
  binary: Uint8Array;
}

/** What {@linkcode encodeFrame} takes. */
export interface FrameInput {
  seq: number;
  type: number;
  /** The string body, as text or as UTF-8 bytes. */
  body?: string | Uint8Array;
  binary?: Uint8Array;
}

/** Why a frame header could not be accepted. */
export type FrameFault =
  | "BAD_SYNC"
  | "BAD_LENGTH"
  | "TOO_LARGE"
  | "BAD_BODY_LENGTH";

/** A header fault: after one, the stream cannot be trusted to resync and must be closed. */
export class FrameError extends Error {
  /** Which check failed. */
  readonly fault: FrameFault;
  /** Whole frames that came before the fault in the same push, to be handled first. */
  framesBefore: Frame[] = [];
  constructor(fault: FrameFault, message: string) {
    super(message);
    this.name = "FrameError";
    this.fault = fault;
  }
}

const encoder = new TextEncoder();

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) {
    throw new RangeError(`Frame ${name} must be an unsigned 32-bit integer`);
  }
}

/**
 * String bodies up to this many UTF-16 units are encoded into {@linkcode scratch} (at most 3
 * bytes each).
 */
const SCRATCH_TEXT_UNITS = 21_845;
const scratch = new Uint8Array(FRAME_HEADER_BYTES + SCRATCH_TEXT_UNITS * 3);

/** Writes a frame's header (sync bytes, lengths, seq, type) at `at` of `out`. */
function writeHeader(
  out: Uint8Array,
  fields: { at: number; full: number; seq: number; type: number; body: number },
): void {
  const at = fields.at;
  out.set(SYNC_BYTES, at);
  putU32(out, at + 4, fields.full);
  putU32(out, at + 8, fields.seq);
  putU32(out, at + 12, fields.type);
  putU32(out, at + 16, fields.body);
  out.fill(0, at + 20, at + FRAME_HEADER_BYTES);
}

/**
 * Writes a big-endian unsigned 32-bit integer at `at` (byte by byte: a `DataView` per frame
 * costs more than the frame's other work, bench/FINDINGS.md, finding 19).
 */
function putU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** Reads a big-endian unsigned 32-bit integer at `at`. */
function getU32(bytes: Uint8Array, at: number): number {
  return bytes[at] * 0x100_0000 + ((bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]);
}

/**
 * Encodes one frame: header, string body, binary data.
 *
 * @example
 * ```ts
 * encodeFrame({ seq: 7, type: 1, body: "{}" }).length; // 34
 * ```
 */
export function encodeFrame(input: FrameInput): Uint8Array {
  const text = input.body;
  if (
    typeof text === "string" && text.length <= SCRATCH_TEXT_UNITS &&
    (input.binary === undefined || input.binary.length === 0)
  ) {
    // Encoded into a scratch buffer, then copied out at its exact size: one buffer per frame
    // instead of two (bench/FINDINGS.md, finding 17).
    return scratch.slice(0, encodeFrameInto(scratch, { ...input, at: 0 }));
  }
  const body = typeof text === "string" ? encoder.encode(text) : text ?? EMPTY;
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length + (input.binary?.length ?? 0));
  encodeFrameInto(out, { ...input, body, at: 0 });
  return out;
}

/**
 * Encodes one frame into `out` from index `at`; returns its length. `out` must have room for
 * it: 32 bytes, the body's bytes (at most 3 a UTF-16 unit of a string body) and the binary data.
 * A frame over the 32-bit length throws `RangeError`.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(64);
 * encodeFrameInto(out, { at: 0, seq: 7, type: 1, body: "{}" }); // 34
 * ```
 */
export function encodeFrameInto(out: Uint8Array, input: FrameInput & { at: number }): number {
  checkU32("seq", input.seq);
  checkU32("type", input.type);
  const { at, body } = input;
  const bodyAt = at + FRAME_HEADER_BYTES;
  let bodyLength: number;
  if (typeof body === "string") {
    const { read, written } = encoder.encodeInto(body, out.subarray(bodyAt));
    if (read < body.length) throw new RangeError("The frame does not fit its buffer");
    bodyLength = written;
  } else {
    bodyLength = body?.length ?? 0;
    if (body) out.set(body, bodyAt);
  }
  const binary = input.binary;
  if (binary && binary.length > 0) out.set(binary, bodyAt + bodyLength);
  const full = FRAME_HEADER_BYTES + bodyLength + (binary?.length ?? 0);
  checkU32("length", full);
  writeHeader(out, { at, full, seq: input.seq, type: input.type, body: bodyLength });
  return full;
}

const EMPTY = new Uint8Array(0);

/** The header fields of a frame. */
export interface FrameHeader {
  fullLength: number;
  seq: number;
  type: number;
  bodyLength: number;
}

/**
 * Reads and checks a 32-byte header: sync bytes, 32 ≤ full length ≤ `maxFrameBytes`, and
 * string-body length ≤ full length − 32. Throws {@linkcode FrameError} naming the fault.
 */
export function readFrameHeader(
  header: Uint8Array,
  maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
): FrameHeader {
  if (header.length < FRAME_HEADER_BYTES) {
    throw new RangeError(`A frame header has ${FRAME_HEADER_BYTES} bytes, not ${header.length}`);
  }
  return readHeaderAt(header, { at: 0, maxFrameBytes });
}

/** {@linkcode readFrameHeader} of the 32 bytes at `at` (no view made of them). */
function readHeaderAt(
  bytes: Uint8Array,
  options: { at: number; maxFrameBytes: number },
): FrameHeader {
  const { at, maxFrameBytes } = options;
  for (let i = 0; i < 4; i++) {
    if (bytes[at + i] !== SYNC_BYTES[i]) {
      throw new FrameError(
        "BAD_SYNC",
        "The frame does not start with the sync bytes 09 6F 01 01",
      );
    }
  }
  const fullLength = getU32(bytes, at + 4);
  if (fullLength < FRAME_HEADER_BYTES) {
    throw new FrameError(
      "BAD_LENGTH",
      `The frame's full length ${fullLength} is shorter than its 32-byte header`,
    );
  }
  if (fullLength > maxFrameBytes) {
    throw new FrameError(
      "TOO_LARGE",
      `The frame's full length ${fullLength} is over the limit of ${maxFrameBytes} bytes`,
    );
  }
  const bodyLength = getU32(bytes, at + 16);
  if (bodyLength > fullLength - FRAME_HEADER_BYTES) {
    throw new FrameError(
      "BAD_BODY_LENGTH",
      `The frame's string-body length ${bodyLength} is more than its full length allows`,
    );
  }
  return {
    fullLength,
    seq: getU32(bytes, at + 8),
    type: getU32(bytes, at + 12),
    bodyLength,
  };
}

/** Options of {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest full length accepted; defaults to 1 MiB. */
  maxFrameBytes?: number;
  /**
   * Frames that lie whole inside a pushed chunk view its bytes instead of a copy of them: valid
   * only until the chunk's buffer is written again, so for a reader that handles every frame
   * before its next read and keeps none of their bytes. A copy per frame costs more than the
   * rest of its decoding (bench/FINDINGS.md, finding 19). Default false.
   */
  views?: boolean;
}

/**
 * A streaming frame decoder. Feed it bytes as they arrive; it returns each frame once whole.
 * A header that fails its checks throws {@linkcode FrameError}, before any body is allocated.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 });
 * for (const chunk of chunks) for (const frame of decoder.push(chunk)) handle(frame);
 * ```
 */
export class FrameDecoder {
  #max: number;
  #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #current: FrameHeader | undefined;
  #frame: Uint8Array | undefined;
  #frameFill = 0;
  #failure: FrameError | undefined;
  #views: boolean;

  constructor(options: FrameDecoderOptions = {}) {
    this.#max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#views = options.views ?? false;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.#headerFill + this.#frameFill;
  }

  /**
   * Feeds bytes; returns the frames they complete, in order. A bad header throws
   * {@linkcode FrameError}, with the whole frames before it in `framesBefore`; every later call
   * throws the same fault again.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#failure) throw new FrameError(this.#failure.fault, this.#failure.message);
    const frames: Frame[] = [];
    try {
      this.#decode(chunk, frames);
    } catch (error) {
      if (error instanceof FrameError) error.framesBefore = frames;
      throw error;
    }
    return frames;
  }

  #decode(chunk: Uint8Array, frames: Frame[]): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#current === undefined) {
        // Whole frames inside the chunk are decoded without copying the header.
        if (
          this.#headerFill === 0 && chunk.length - offset >= FRAME_HEADER_BYTES
        ) {
          const header = this.#check(chunk, offset);
          if (chunk.length - offset >= header.fullLength) {
            const end = offset + header.fullLength;
            frames.push(
              toFrame(header, this.#views ? chunk.subarray(offset, end) : chunk.slice(offset, end)),
            );
            offset += header.fullLength;
            continue;
          }
          this.#begin(header);
          continue;
        }
        const take = Math.min(
          FRAME_HEADER_BYTES - this.#headerFill,
          chunk.length - offset,
        );
        this.#header.set(
          chunk.subarray(offset, offset + take),
          this.#headerFill,
        );
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) break;
        const header = this.#check(this.#header, 0);
        this.#headerFill = 0;
        this.#begin(header);
        this.#frame!.set(this.#header, 0);
        this.#frameFill = FRAME_HEADER_BYTES;
      }
      const frame = this.#frame!;
      const take = Math.min(
        frame.length - this.#frameFill,
        chunk.length - offset,
      );
      frame.set(chunk.subarray(offset, offset + take), this.#frameFill);
      this.#frameFill += take;
      offset += take;
      if (this.#frameFill === frame.length) {
        frames.push(toFrame(this.#current!, frame));
        this.#current = undefined;
        this.#frame = undefined;
        this.#frameFill = 0;
      }
    }
  }

  #check(bytes: Uint8Array, at: number): FrameHeader {
    try {
      return readHeaderAt(bytes, { at, maxFrameBytes: this.#max });
    } catch (error) {
      if (error instanceof FrameError) this.#failure = error;
      throw error;
    }
  }

  #begin(header: FrameHeader): void {
    this.#current = header;
    this.#frame = new Uint8Array(header.fullLength);
    this.#frameFill = 0;
  }
}

function toFrame(header: FrameHeader, bytes: Uint8Array): Frame {
  const bodyEnd = FRAME_HEADER_BYTES + header.bodyLength;
  return {
    seq: header.seq,
    type: header.type,
    body: bytes.subarray(FRAME_HEADER_BYTES, bodyEnd),
    binary: bytes.subarray(bodyEnd),
  };
}

/**
 * Decodes exactly one whole frame (a WebSocket binary message). Throws {@linkcode FrameError}
 * when the header fails its checks or the length does not match the bytes given.
 */
export function decodeFrame(
  bytes: Uint8Array,
  maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
): Frame {
  if (bytes.length < FRAME_HEADER_BYTES) {
    throw new FrameError(
      "BAD_LENGTH",
      `The frame has ${bytes.length} bytes, fewer than its 32-byte header`,
    );
  }
  const header = readFrameHeader(bytes, maxFrameBytes);
  if (header.fullLength !== bytes.length) {
    throw new FrameError(
      "BAD_LENGTH",
      `The frame's full length ${header.fullLength} does not match the ${bytes.length} bytes received`,
    );
  }
  return toFrame(header, bytes);
}

/**
 * The string body of a frame as text. Throws `TypeError` when it is not valid UTF-8.
 */
export function frameText(frame: Frame): string {
  return decodeStrictUtf8(frame.body, { ignoreBOM: true });
}
