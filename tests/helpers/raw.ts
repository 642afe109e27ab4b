/**
 * Talks to the gate below the client library: raw envelope texts over WebSocket or raw frames
 * over TCP, so that tests can send what a well-behaved client never would; and
 * {@linkcode RawClient}, requests by msgId over such a connection, with any field in the envelope.
 *
 * @example
 * ```ts ignore
 * const alice = await RawClient.open(gate.tcpUrl);
 * await alice.ok(LoginCmd.LOGIN, { username, password }, { userName: "forged1" });
 * alice.close(); // a bare close of the socket, with nothing said before
 * ```
 * @module
 */

import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, frameText, State } from "../../shared/mod.ts";

/** Options of {@linkcode rawExchange}. */
export interface RawExchangeOptions {
  url: string;
  /** Envelope texts (sent as text or Envelope frames) or raw bytes (sent as they are). */
  send: Array<string | Uint8Array>;
  /** How many messages to wait for. */
  expect: number;
  timeoutMs?: number;
}

/** Sends messages and collects the texts of the first `expect` messages received. */
export async function rawExchange(options: RawExchangeOptions): Promise<string[]> {
  const conn = await openRaw(options.url);
  try {
    for (const message of options.send) conn.send(message);
    const out: string[] = [];
    while (out.length < options.expect) {
      const next = await conn.next(options.timeoutMs ?? 5000);
      if (next.kind === "close") {
        throw new Error(`Closed after ${out.length} messages: ${next.reason}`);
      }
      out.push(next.text);
    }
    return out;
  } finally {
    conn.close();
  }
}

/** What a raw connection receives. */
export type RawEvent =
  | { kind: "text"; text: string; type?: number }
  | { kind: "close"; reason: string; code?: number };

/** A raw connection. */
export interface RawConnection {
  send(message: string | Uint8Array): void;
  /** The next message or the close; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<RawEvent>;
  close(): void;
}

/** Opens a raw WebSocket (`ws://…`) or TCP (`tcp://…`) connection. */
export async function openRaw(
  url: string,
  options: { origin?: string } = {},
): Promise<RawConnection> {
  const events: RawEvent[] = [];
  let wake: (() => void) | undefined;
  const push = (event: RawEvent) => {
    events.push(event);
    wake?.();
  };
  const next = async (timeoutMs = 5000): Promise<RawEvent> => {
    const deadline = Date.now() + timeoutMs;
    while (events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Nothing received in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return events.shift()!;
  };
  if (url.startsWith("ws")) {
    const socket = new WebSocket(
      url,
      options.origin ? { headers: { origin: options.origin } } : undefined,
    );
    socket.binaryType = "arraybuffer";
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`Could not open ${url}`));
    });
    const decoder = new FrameDecoder();
    socket.onmessage = (event) => {
      if (typeof event.data === "string") push({ kind: "text", text: event.data });
      else {
        for (const frame of decoder.push(new Uint8Array(event.data))) {
          push({ kind: "text", text: frameText(frame), type: frame.type });
        }
      }
    };
    socket.onclose = (event) => push({ kind: "close", reason: event.reason, code: event.code });
    return {
      send: (message) => socket.send(message),
      next,
      close: () => socket.close(),
    };
  }
  const match = url.match(/^tcp:\/\/([^:]+):(\d+)$/);
  if (!match) throw new Error(`Not a tcp URL: ${url}`);
  const conn = await Deno.connect({ hostname: match[1], port: Number(match[2]) });
  const decoder = new FrameDecoder();
  let seq = 0;
  (async () => {
    const buffer = new Uint8Array(65536);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        for (const frame of decoder.push(buffer.subarray(0, n))) {
          push({ kind: "text", text: frameText(frame), type: frame.type });
        }
      }
    } catch { /* closed */ }
    push({ kind: "close", reason: "closed" });
  })();
  return {
    send: (message) => {
      const bytes = typeof message === "string"
        ? encodeFrame({ seq: ++seq, type: 100, body: message })
        : message;
      conn.write(bytes).catch(() => {});
    },
    next,
    close: () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Options of {@linkcode RawClient.open}. */
export interface RawClientOptions {
  /** Names the client in assertion and timeout messages (e.g. its username). */
  label?: string;
}

/**
 * A client on a raw connection ({@linkcode openRaw}): requests by msgId, any top-level envelope
 * field, every push kept in order. Closing it is a bare close of the socket.
 */
export class RawClient {
  /** Every push envelope received, in order. */
  readonly pushes: Json[] = [];
  #conn: RawConnection;
  #label?: string;
  #msgId = 0;
  #answers = new Map<number, (response: Json) => void>();
  #waiters = new Set<() => void>();

  /** Wraps an open raw connection and starts reading it. */
  constructor(conn: RawConnection, options: RawClientOptions = {}) {
    this.#conn = conn;
    this.#label = options.label;
    this.#read();
  }

  /** Opens a raw connection to `url` (`ws://…` or `tcp://…`) and wraps it. */
  static async open(url: string, options: RawClientOptions = {}): Promise<RawClient> {
    return new RawClient(await openRaw(url), options);
  }

  async #read(): Promise<void> {
    while (true) {
      let event;
      try {
        event = await this.#conn.next(60_000);
      } catch {
        continue;
      }
      if (event.kind === "close") return;
      const envelope = JSON.parse(event.text);
      if (envelope.is_resp) this.#answers.get(envelope.msgId)?.(envelope);
      else if (envelope.is_push) {
        this.pushes.push(envelope);
        for (const wake of this.#waiters) wake();
      }
    }
  }

  /** Sends a request with `extra` top-level envelope fields; resolves with the response. */
  call(cmd: string, data: unknown = {}, extra: Record<string, unknown> = {}): Promise<Json> {
    const msgId = ++this.#msgId;
    const answer = new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`No answer to ${cmd} within 10 s`)), 10_000);
      this.#answers.set(msgId, (response) => {
        clearTimeout(timer);
        this.#answers.delete(msgId);
        resolve(response);
      });
    });
    this.#conn.send(JSON.stringify({ ...extra, cmd, is_req: true, msgId, data }));
    return answer;
  }

  /** Like {@linkcode RawClient.call}, and asserts the answer is OK; resolves with its data. */
  async ok<T = Json>(
    cmd: string,
    data: unknown = {},
    extra: Record<string, unknown> = {},
  ): Promise<T> {
    const response = await this.call(cmd, data, extra);
    assert.equal(
      response.state,
      State.OK,
      `${this.#label ? `${this.#label} ` : ""}${cmd}: ${response.msg}`,
    );
    return response.data as T;
  }

  /** The data of the pushes of `cmd` so far. */
  of(cmd: string): Json[] {
    return this.pushes.filter((p) => p.cmd === cmd).map((p) => p.data);
  }

  /** Waits up to 10 s for a push of `cmd` that `match` accepts (one already here counts). */
  async push(cmd: string, match: (data: Json) => boolean = () => true): Promise<Json> {
    const deadline = Date.now() + 10_000;
    while (true) {
      const found = this.pushes.find((p) => p.cmd === cmd && match(p.data));
      if (found) return found.data;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`No ${cmd} push reached ${this.#label ?? "the client"} within 10 s`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  /** Closes the socket, with nothing said before: the gate sees a dropped client. */
  close(): void {
    this.#conn.close();
  }
}
