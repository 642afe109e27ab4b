/**
 * The reading half of an RFC 6455 server endpoint: client frames in, whole messages out, as an
 * explicit state machine (after websockets/ws's `receiver.js`). It holds at most
 * `maxMessageBytes` of payload for a message, counting every fragment: the length in a frame's
 * header is checked against what the message already holds before a byte of it is kept, so a
 * message past the limit fails at once with 1009, however it is cut up.
 *
 * Every fault goes through one class, {@linkcode WsFault}, carrying a sentence, the close code to
 * send and a stable code.
 *
 * @example
 * ```ts
 * import { WsReceiver } from "./ws_receiver.ts";
 * const receiver = new WsReceiver({
 *   maxMessageBytes: 1 << 20,
 *   events: {
 *     onText: (text) => console.log(text),
 *     onBinary: () => {},
 *     onPing: () => {},
 *     onClose: () => {},
 *   },
 * });
 * // A masked text frame "hi" (mask 0): FIN|TEXT, MASK|2, key, payload.
 * const fault = receiver.push(new Uint8Array([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]));
 * console.log(fault); // undefined
 * ```
 * @module
 */

import { decodeStrictUtf8 } from "../../shared/mod.ts";

/** WebSocket opcodes. */
export const WsOpcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Stable codes of {@linkcode WsFault}. */
export type WsFaultCode =
  | "WS_ERR_UNEXPECTED_RSV"
  | "WS_ERR_INVALID_OPCODE"
  | "WS_ERR_EXPECTED_MASK"
  | "WS_ERR_EXPECTED_FIN"
  | "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH"
  | "WS_ERR_UNEXPECTED_CONTINUATION"
  | "WS_ERR_EXPECTED_CONTINUATION"
  | "WS_ERR_MESSAGE_TOO_BIG"
  | "WS_ERR_INVALID_UTF8"
  | "WS_ERR_INVALID_CLOSE_CODE";

/** A protocol fault: the connection must be closed with `closeCode`. */
export class WsFault extends Error {
  /** The WebSocket close code to send: 1002, 1007 or 1009. */
  readonly closeCode: number;
  /** A stable name of the fault, for tests and logs. */
  readonly code: WsFaultCode;

  constructor(options: { message: string; closeCode: number; code: WsFaultCode }) {
    super(options.message);
    this.name = "WsFault";
    this.closeCode = options.closeCode;
    this.code = options.code;
  }
}

/** What a {@linkcode WsReceiver} hands on. Payloads are valid only during the call. */
export interface WsReceiverEvents {
  /** A whole text message, checked to be valid UTF-8. */
  onText(text: string): void;
  /** A whole binary message; the bytes may be reused after the call returns. */
  onBinary(bytes: Uint8Array): void;
  /** A ping; the bytes may be reused after the call returns. */
  onPing(bytes: Uint8Array): void;
  /** A close frame: its code (absent when the frame had none) and reason. */
  onClose(code: number | undefined, reason: string): void;
}

/** Options of {@linkcode WsReceiver}. */
export interface WsReceiverOptions {
  /** The most payload bytes one message may hold, all its fragments together. */
  maxMessageBytes: number;
  events: WsReceiverEvents;
}

const enum Step {
  /** Waiting for the 2–14 bytes of a frame header. */
  HEAD,
  /** Collecting a frame's payload. */
  PAYLOAD,
  /** Failed or closed: every further byte is ignored. */
  DONE,
}

/** Close codes a peer may send (RFC 6455 7.4; 1004–1006 and 1015 are never sent). */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
}

/** Unmasks `bytes` in place; `offset` is the payload position of `bytes[0]`. */
function unmask(bytes: Uint8Array, key: Uint8Array, offset: number): void {
  // The key rotated to `offset`, in locals: four bytes per step, no index arithmetic per byte.
  const k0 = key[offset & 3];
  const k1 = key[(offset + 1) & 3];
  const k2 = key[(offset + 2) & 3];
  const k3 = key[(offset + 3) & 3];
  const n = bytes.length;
  const whole = n & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    bytes[i] ^= k0;
    bytes[i + 1] ^= k1;
    bytes[i + 2] ^= k2;
    bytes[i + 3] ^= k3;
  }
  if (i < n) bytes[i++] ^= k0;
  if (i < n) bytes[i++] ^= k1;
  if (i < n) bytes[i] ^= k2;
}

/** Parses client frames; see the module doc. */
export class WsReceiver {
  #max: number;
  #events: WsReceiverEvents;
  #step = Step.HEAD;
  #head = new Uint8Array(14);
  #headHave = 0;
  #fin = false;
  #opcode = 0;
  #key = new Uint8Array(4);
  #payloadLength = 0;
  /** The frame's payload, when it arrives over more than one chunk. */
  #payload: Uint8Array | undefined;
  #payloadHave = 0;
  /** The data opcode of the fragmented message in progress, 0 when none. */
  #messageOpcode = 0;
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  /** What the last {@linkcode WsReceiver.#takeHead} found: a whole header, or a fault. */
  #headComplete = false;
  #headFault: WsFault | undefined;

  constructor(options: WsReceiverOptions) {
    if (!Number.isSafeInteger(options.maxMessageBytes) || options.maxMessageBytes < 1) {
      throw new RangeError(
        `'maxMessageBytes' must be a positive integer: received ${options.maxMessageBytes}`,
      );
    }
    this.#max = options.maxMessageBytes;
    this.#events = options.events;
  }

  /** The payload bytes held for the message in progress (fragments and a partial frame). */
  get heldBytes(): number {
    return this.#fragmentBytes + this.#payloadHave;
  }

  /** Whether it stopped (after a fault or a close frame). */
  get done(): boolean {
    return this.#step === Step.DONE;
  }

  /**
   * Parses `chunk` (which the caller may reuse once this returns; payloads are unmasked in place
   * in it), handing on every whole message, ping and close in it. Returns the fault that ends the connection, if any; after a
   * fault or a close frame, further bytes are ignored.
   */
  push(chunk: Uint8Array): WsFault | undefined {
    let at = 0;
    while (at < chunk.length && this.#step !== Step.DONE) {
      if (this.#step === Step.HEAD) {
        at += this.#takeHead(chunk, at);
        if (this.#headFault) return this.#fail(this.#headFault);
        if (!this.#headComplete) return undefined;
        if (this.#payloadLength === 0) {
          const fault = this.#frame(new Uint8Array(0));
          if (fault) return this.#fail(fault);
          continue;
        }
        this.#step = Step.PAYLOAD;
        this.#payloadHave = 0;
        if (chunk.length - at >= this.#payloadLength) {
          // The whole payload is here: unmask it where it lies, no copy.
          const payload = chunk.subarray(at, at + this.#payloadLength);
          at += this.#payloadLength;
          unmask(payload, this.#key, 0);
          this.#step = Step.HEAD;
          const fault = this.#frame(payload);
          if (fault) return this.#fail(fault);
          continue;
        }
        this.#payload = new Uint8Array(this.#payloadLength);
      }
      // Step.PAYLOAD over several chunks.
      const payload = this.#payload!;
      const n = Math.min(chunk.length - at, payload.length - this.#payloadHave);
      payload.set(chunk.subarray(at, at + n), this.#payloadHave);
      unmask(
        payload.subarray(this.#payloadHave, this.#payloadHave + n),
        this.#key,
        this.#payloadHave,
      );
      this.#payloadHave += n;
      at += n;
      if (this.#payloadHave === payload.length) {
        this.#payload = undefined;
        this.#payloadHave = 0;
        this.#step = Step.HEAD;
        const fault = this.#frame(payload);
        if (fault) return this.#fail(fault);
      }
    }
    return undefined;
  }

  #fail(fault: WsFault): WsFault {
    this.#step = Step.DONE;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#payload = undefined;
    this.#payloadHave = 0;
    return fault;
  }

  /**
   * Takes header bytes from `chunk` at `at`, returning how many; checks the header once it is
   * whole, setting `#headComplete` or `#headFault` (no object per frame: this is the hot path).
   */
  #takeHead(chunk: Uint8Array, at: number): number {
    this.#headComplete = false;
    this.#headFault = undefined;
    const head = this.#head;
    let used = 0;
    while (this.#headHave < 2 && at + used < chunk.length) {
      head[this.#headHave++] = chunk[at + used++];
    }
    if (this.#headHave < 2) return used;
    const lengthByte = head[1] & 0x7f;
    const need = 2 + (lengthByte === 126 ? 2 : lengthByte === 127 ? 8 : 0) + 4;
    if ((head[1] & 0x80) === 0) {
      return this.#headFailed(used, fault("EXPECTED_MASK"));
    }
    while (this.#headHave < need && at + used < chunk.length) {
      head[this.#headHave++] = chunk[at + used++];
    }
    if (this.#headHave < need) return used;
    this.#headHave = 0;
    const b0 = head[0];
    if ((b0 & 0x70) !== 0) return this.#headFailed(used, fault("UNEXPECTED_RSV"));
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length: number;
    if (lengthByte === 126) {
      length = (head[2] << 8) | head[3];
    } else if (lengthByte === 127) {
      // Anything from 2^32 up is over every limit; the high word only has to be non-zero.
      const high = ((head[2] << 24) | (head[3] << 16) | (head[4] << 8) | head[5]) >>> 0;
      const low = ((head[6] << 24) | (head[7] << 16) | (head[8] << 8) | head[9]) >>> 0;
      length = high > 0 ? Number.MAX_SAFE_INTEGER : low;
    } else {
      length = lengthByte;
    }
    const key = this.#key;
    key[0] = head[need - 4];
    key[1] = head[need - 3];
    key[2] = head[need - 2];
    key[3] = head[need - 1];
    const control = (opcode & 0x08) !== 0;
    if (control) {
      if (opcode !== WsOpcode.CLOSE && opcode !== WsOpcode.PING && opcode !== WsOpcode.PONG) {
        return this.#headFailed(used, fault("INVALID_OPCODE", opcode));
      }
      if (!fin) return this.#headFailed(used, fault("EXPECTED_FIN"));
      if (length > 125) {
        return this.#headFailed(used, fault("INVALID_CONTROL_PAYLOAD_LENGTH"));
      }
    } else if (opcode === WsOpcode.CONTINUATION) {
      if (this.#messageOpcode === 0) {
        return this.#headFailed(used, fault("UNEXPECTED_CONTINUATION"));
      }
    } else if (opcode === WsOpcode.TEXT || opcode === WsOpcode.BINARY) {
      if (this.#messageOpcode !== 0) {
        return this.#headFailed(used, fault("EXPECTED_CONTINUATION"));
      }
    } else {
      return this.#headFailed(used, fault("INVALID_OPCODE", opcode));
    }
    if (!control && this.#fragmentBytes + length > this.#max) {
      return this.#headFailed(used, tooBig(this.#max));
    }
    this.#fin = fin;
    this.#opcode = opcode;
    this.#payloadLength = length;
    this.#headComplete = true;
    return used;
  }

  /** Records the fault of a header; returns `used`. */
  #headFailed(used: number, headFault: WsFault): number {
    this.#headFault = headFault;
    return used;
  }

  /** One whole frame's unmasked payload. */
  #frame(payload: Uint8Array): WsFault | undefined {
    const opcode = this.#opcode;
    if (opcode === WsOpcode.PING) {
      this.#events.onPing(payload);
      return undefined;
    }
    if (opcode === WsOpcode.PONG) return undefined;
    if (opcode === WsOpcode.CLOSE) return this.#close(payload);
    if (!this.#fin) {
      if (opcode !== WsOpcode.CONTINUATION) this.#messageOpcode = opcode;
      // The read buffer is reused: a fragment is kept as a copy (bounded by the check above).
      this.#fragments.push(payload.slice());
      this.#fragmentBytes += payload.length;
      return undefined;
    }
    let message = payload;
    let messageOpcode = opcode;
    if (opcode === WsOpcode.CONTINUATION) {
      messageOpcode = this.#messageOpcode;
      message = new Uint8Array(this.#fragmentBytes + payload.length);
      let offset = 0;
      for (const part of this.#fragments) {
        message.set(part, offset);
        offset += part.length;
      }
      message.set(payload, offset);
      this.#fragments = [];
      this.#fragmentBytes = 0;
      this.#messageOpcode = 0;
    }
    if (messageOpcode === WsOpcode.BINARY) {
      this.#events.onBinary(message);
      return undefined;
    }
    let text: string;
    try {
      text = decodeStrictUtf8(message, { ignoreBOM: true });
    } catch {
      return fault("INVALID_UTF8");
    }
    this.#events.onText(text);
    return undefined;
  }

  #close(payload: Uint8Array): WsFault | undefined {
    if (payload.length === 1) return fault("INVALID_CONTROL_PAYLOAD_LENGTH");
    let code: number | undefined;
    let reason = "";
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!validCloseCode(code)) return fault("INVALID_CLOSE_CODE", code);
      try {
        reason = decodeStrictUtf8(payload.subarray(2), { ignoreBOM: true });
      } catch {
        return fault("INVALID_UTF8");
      }
    }
    this.#step = Step.DONE;
    this.#events.onClose(code, reason);
    return undefined;
  }
}

/** The fault for a message past `max` bytes (close 1009). */
function tooBig(max: number): WsFault {
  return new WsFault({
    message: `The message is over the limit of ${max} bytes`,
    closeCode: 1009,
    code: "WS_ERR_MESSAGE_TOO_BIG",
  });
}

const FAULTS = {
  UNEXPECTED_RSV: "The frame sets a reserved bit and no extension was agreed",
  INVALID_OPCODE: "The frame has an unknown opcode",
  EXPECTED_MASK: "A client frame must be masked",
  EXPECTED_FIN: "A control frame must not be fragmented",
  INVALID_CONTROL_PAYLOAD_LENGTH: "The control frame's payload length is invalid",
  UNEXPECTED_CONTINUATION: "A continuation frame came with no message to continue",
  EXPECTED_CONTINUATION: "A new message began before the fragmented one ended",
  INVALID_UTF8: "The text is not valid UTF-8",
  INVALID_CLOSE_CODE: "The close frame's code is invalid",
} as const;

function fault(name: keyof typeof FAULTS, value?: number): WsFault {
  return new WsFault({
    message: value === undefined ? FAULTS[name] : `${FAULTS[name]}: ${value}`,
    closeCode: name === "INVALID_UTF8" ? 1007 : 1002,
    code: `WS_ERR_${name}`,
  });
}
