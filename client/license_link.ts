/**
 * One connection of a {@linkcode LicenseClient} to the license server: requests matched to their
 * responses by sequence number, the two-way heartbeat, and the 3-interval silence check. It
 * knows nothing of seats; the client above it keeps that state and reconnects.
 *
 * @module
 */

import { parseEnvelope } from "../shared/envelope.ts";
import { type Frame, nextSeq } from "../shared/frame.ts";
import {
  LicenseCmd,
  type LicenseQueuedData,
  type LicenseRequestName,
  type LicenseResponseName,
  licenseResponseName,
  type LicenseRspBase,
  makeHeartbeatRsp,
  readLicenseResponse,
} from "../shared/license_messages.ts";
import type { MessageTypeName, MessageTypes } from "../shared/message_types.ts";
import { errorBody } from "../shared/protocol_error.ts";
import { State } from "../shared/state_codes.ts";
import { FramedSocket } from "./framed_socket.ts";

/** An error of the license client: a lost connection, a timeout, a malformed answer. */
export class LicenseClientError extends Error {
  /** A state code when the server gave one (an `Error` frame), or `TIMEOUT`. */
  readonly code?: number;
  /** An error with a sentence and, when known, a state code. */
  constructor(message: string, code?: number) {
    super(message);
    this.name = "LicenseClientError";
    this.code = code;
  }
}

/** Options of {@linkcode LicenseLink.open}. */
export interface LicenseLinkOptions {
  /** The server's address. */
  host: string;
  /** The server's port. */
  port: number;
  /** The message-type table, the same as the server's. */
  types: MessageTypes;
  /** The heartbeat interval until the server gives its own. */
  heartbeatMs: number;
  /** Give up connecting after this long. */
  connectTimeoutMs: number;
  /** How long a request waits for its response. */
  requestTimeoutMs: number;
  /** Largest frame accepted; default 1 MiB. */
  maxFrameBytes?: number;
}

/** What a {@linkcode LicenseLink} reports. */
export interface LicenseLinkEvents {
  /** A response arrived for a request; called before the request's promise resolves. */
  onResponse(name: LicenseResponseName, body: LicenseRspBase): void;
  /** The server queued a login that asked to wait. */
  onQueued(position: number): void;
  /** The connection ended, with a sentence saying why; called once. */
  onClose(reason: string): void;
}

interface Pending {
  expect: LicenseResponseName;
  resolve(value: LicenseRspBase): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
}

/** One framed connection to the license server. */
export class LicenseLink {
  #socket: FramedSocket | undefined;
  #options: LicenseLinkOptions;
  #events: LicenseLinkEvents;
  #pending = new Map<number, Pending>();
  #seq = 0;
  #heartbeatMs: number;
  #lastReceived = Date.now();
  #lastPing = 0;
  #lastError: string | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;

  private constructor(options: LicenseLinkOptions, events: LicenseLinkEvents) {
    this.#options = options;
    this.#events = events;
    this.#heartbeatMs = options.heartbeatMs;
  }

  /** Connects; rejects with a sentence when the server cannot be reached in time. */
  static async open(options: LicenseLinkOptions, events: LicenseLinkEvents): Promise<LicenseLink> {
    const link = new LicenseLink(options, events);
    link.#socket = await FramedSocket.connect({
      host: options.host,
      port: options.port,
      connectTimeoutMs: options.connectTimeoutMs,
      maxFrameBytes: options.maxFrameBytes,
    }, {
      onFrame: (frame) => link.#onFrame(frame),
      onFault: (error) => link.#sendError({ seq: 0, msg: error.message }),
      onClose: (reason) => link.#onClose(reason),
    });
    link.#lastReceived = Date.now();
    link.#startTicker();
    return link;
  }

  /** Whether the connection has ended or is ending. */
  get closed(): boolean {
    return this.#socket?.closed ?? true;
  }

  /** Sends a request; resolves with the checked response body. `timeoutMs` 0 waits forever. */
  request(
    name: LicenseRequestName,
    body: object,
    options: { timeoutMs?: number } = {},
  ): Promise<LicenseRspBase> {
    if (this.closed) {
      return Promise.reject(new LicenseClientError("The license client is not connected"));
    }
    const seq = this.#nextSeq();
    const expect = licenseResponseName(name);
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const pending: Pending = { expect, resolve, reject };
      if (timeoutMs > 0) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(seq);
          reject(new LicenseClientError(`No ${expect} within ${timeoutMs} ms`, State.TIMEOUT));
        }, timeoutMs);
      }
      this.#pending.set(seq, pending);
      this.#send({ name, seq, body });
    });
  }

  /** Switches to the heartbeat interval the server gave. */
  useHeartbeat(ms: number): void {
    if (ms === this.#heartbeatMs) return;
    this.#heartbeatMs = ms;
    if (this.#ticker !== undefined) this.#startTicker();
  }

  /** Closes with `reason`; resolves once the socket is closed and `onClose` was called. */
  async close(reason: string): Promise<void> {
    this.#stopTicker();
    await this.#socket?.close(reason);
  }

  #onClose(reason: string): void {
    this.#stopTicker();
    const why = this.#lastError ?? reason;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new LicenseClientError(why));
    }
    this.#events.onClose(why);
  }

  #onFrame(frame: Frame): void {
    this.#lastReceived = Date.now();
    const name = this.#options.types.name(frame.type);
    if (name === undefined) {
      this.#sendError({ seq: frame.seq, msg: `Unknown message type ${frame.type}` });
    } else if (name === "HeartbeatReq") {
      this.#send({ name: "HeartbeatRsp", seq: frame.seq, body: makeHeartbeatRsp() });
    } else if (name === "Envelope") {
      this.#onEnvelope(frame);
    } else if (name === "Error") {
      this.#onError(frame);
    } else if (name.endsWith("Rsp")) {
      this.#onResponse(name as LicenseResponseName, frame);
    } else {
      this.#sendError({
        seq: frame.seq,
        msg: `Message type ${name} is not a request the license client answers`,
      });
    }
  }

  #onResponse(name: LicenseResponseName, frame: Frame): void {
    const pending = this.#pending.get(frame.seq);
    if (!pending || pending.expect !== name) return; // late, after its timeout
    this.#pending.delete(frame.seq);
    clearTimeout(pending.timer);
    const read = readLicenseResponse(name, frame.body);
    if (!read.ok) {
      pending.reject(new LicenseClientError(read.error));
      return;
    }
    try {
      this.#events.onResponse(name, read.body);
    } finally {
      pending.resolve(read.body);
    }
  }

  #onEnvelope(frame: Frame): void {
    const parsed = parseEnvelope(new TextDecoder().decode(frame.body));
    if (!parsed.ok || !("is_push" in parsed.envelope)) return;
    const { cmd, data } = parsed.envelope;
    const position = (data as Partial<LicenseQueuedData> | undefined)?.position;
    if (cmd === LicenseCmd.QUEUED && typeof position === "number") {
      this.#events.onQueued(position);
    }
  }

  #onError(frame: Frame): void {
    let msg = "The server reported an error";
    let code: number | undefined;
    try {
      const body = JSON.parse(new TextDecoder().decode(frame.body));
      if (typeof body?.msg === "string") msg = body.msg;
      if (typeof body?.code === "number") code = body.code;
    } catch { /* keep the generic sentence */ }
    if (frame.seq === 0) {
      this.#lastError = msg; // a fault of the connection: the server closes it next
      return;
    }
    const pending = this.#pending.get(frame.seq);
    if (pending) {
      this.#pending.delete(frame.seq);
      clearTimeout(pending.timer);
      pending.reject(new LicenseClientError(msg, code));
    }
  }

  #nextSeq(): number {
    this.#seq = nextSeq(this.#seq);
    return this.#seq;
  }

  #send(frame: { name: MessageTypeName; seq: number; body: object }): void {
    this.#socket?.send({
      seq: frame.seq,
      type: this.#options.types.number(frame.name),
      body: JSON.stringify(frame.body),
    });
  }

  #sendError(options: { seq: number; msg: string }): void {
    this.#socket?.send({
      seq: options.seq,
      type: this.#options.types.number("Error"),
      body: errorBody(options.msg),
    });
  }

  #startTicker(): void {
    this.#stopTicker();
    this.#ticker = setInterval(() => this.#tick(), Math.max(5, Math.floor(this.#heartbeatMs / 4)));
  }

  #stopTicker(): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }

  #tick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.#lastReceived >= 3 * this.#heartbeatMs) {
      this.#lastError =
        `No message from the license server for 3 heartbeat intervals of ${this.#heartbeatMs} ms`;
      this.#stopTicker();
      void this.#socket?.close(this.#lastError);
    } else if (now - this.#lastPing >= this.#heartbeatMs) {
      this.#lastPing = now;
      this.#send({ name: "HeartbeatReq", seq: this.#nextSeq(), body: {} });
    }
  }
}
