/**
 * Talks to the gate below the client library: raw envelope texts over WebSocket or raw frames
 * over TCP, so that tests can send what a well-behaved client never would.
 *
 * @module
 */

import { encodeFrame, FrameDecoder, frameText } from "../../shared/mod.ts";

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
