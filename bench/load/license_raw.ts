/**
 * A light license client for the load generator: raw framed TCP (the shared frame codec, no
 * `LicenseClient`), so that one process can hold 10,000 of them. It answers the server's
 * `HeartbeatReq`, matches answers to requests by sequence number, and records why it ended.
 *
 * @module
 */

import { encodeFrame, type Frame, FrameDecoder } from "../../shared/frame.ts";
import { MessageTypes } from "../../shared/message_types.ts";

const types = new MessageTypes();
const T = {
  loginReq: types.number("LoginReq"),
  logoutReq: types.number("LogoutReq"),
  heartbeatReq: types.number("HeartbeatReq"),
  heartbeatRsp: types.number("HeartbeatRsp"),
  error: types.number("Error"),
  envelope: types.number("Envelope"),
};
const decoder = new TextDecoder();
const HEARTBEAT_RSP_BODY = JSON.stringify({ state: 0 });

/** An answer: the frame's type and its JSON body. */
export interface RawAnswer {
  type: number;
  body: Record<string, unknown>;
}

/** One raw license connection. */
export class RawLicenseClient {
  /** Why the connection ended, once it has: an `Error` frame's message or the peer closing. */
  ended?: string;
  /** When a frame last arrived, or a request was last sent (`performance.now()`). */
  lastRead = performance.now();
  lastSent = performance.now();
  #conn: Deno.TcpConn;
  #seq = 0;
  #done = false;
  #pending = new Map<number, (answer: RawAnswer) => void>();
  #onEnd: (client: RawLicenseClient) => void;

  private constructor(conn: Deno.TcpConn, onEnd: (client: RawLicenseClient) => void) {
    this.#conn = conn;
    this.#onEnd = onEnd;
    void this.#read();
  }

  /** Connects; `onEnd` runs once when the connection ends for any reason. */
  static async connect(
    options: { host: string; port: number },
    onEnd: (client: RawLicenseClient) => void = () => {},
  ): Promise<RawLicenseClient> {
    const conn = await Deno.connect({ hostname: options.host, port: options.port });
    conn.setNoDelay(true);
    return new RawLicenseClient(conn, onEnd);
  }

  /** Sends a request; resolves with its answer, or a failure (state −1) once the link ended. */
  request(type: number, body: object): Promise<RawAnswer> {
    if (this.ended) {
      return Promise.resolve({ type: T.error, body: { state: -1, msg: this.ended } });
    }
    const seq = this.#next();
    return new Promise((resolve) => {
      this.#pending.set(seq, resolve);
      this.#write(encodeFrame({ seq, type, body: JSON.stringify(body) }));
    });
  }

  /** `LoginReq` for `instanceId`. */
  login(instanceId: string): Promise<RawAnswer> {
    return this.request(T.loginReq, { instanceId, host: "bench", user: "bench", wait: false });
  }

  /** `HeartbeatReq`. */
  heartbeat(): Promise<RawAnswer> {
    return this.request(T.heartbeatReq, {});
  }

  /** `LogoutReq`. */
  logout(): Promise<RawAnswer> {
    return this.request(T.logoutReq, {});
  }

  /** Closes the connection. */
  close(): void {
    this.ended ??= "closed by the load generator";
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  #next(): number {
    this.#seq = this.#seq >= 0xffff_ffff ? 1 : this.#seq + 1;
    return this.#seq;
  }

  #write(bytes: Uint8Array): void {
    this.lastSent = performance.now();
    this.#conn.write(bytes).catch((error) => this.#end(`write failed: ${error}`));
  }

  #end(why: string): void {
    if (this.#done) return;
    this.#done = true;
    this.ended ??= why;
    const failed = { type: T.error, body: { state: -1, msg: this.ended } };
    for (const resolve of this.#pending.values()) resolve(failed);
    this.#pending.clear();
    this.#onEnd(this);
  }

  async #read(): Promise<void> {
    const frames = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        for (const frame of frames.push(buffer.subarray(0, n))) this.#onFrame(frame);
      }
      this.#end("the server closed the connection");
    } catch (error) {
      this.#end(`read failed: ${error}`);
    }
  }

  #onFrame(frame: Frame): void {
    this.lastRead = performance.now();
    if (frame.type === T.heartbeatReq) {
      this.#write(encodeFrame({ seq: frame.seq, type: T.heartbeatRsp, body: HEARTBEAT_RSP_BODY }));
      return;
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(decoder.decode(frame.body));
    } catch { /* not JSON */ }
    if (frame.type === T.error && frame.seq === 0) {
      this.ended ??= `server error: ${body.msg}`;
      return;
    }
    if (frame.type === T.envelope && frame.seq === 0) return;
    const resolve = this.#pending.get(frame.seq);
    if (!resolve) return;
    this.#pending.delete(frame.seq);
    resolve({ type: frame.type, body });
  }
}
