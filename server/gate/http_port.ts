/**
 * The gate's HTTP port over a listener the gate owns (TCP or TLS): one accept loop
 * ({@linkcode acceptLoop}), a deadline on each request head, one request per connection
 * (`connection: close`), and either a `Response` written back or the socket handed over for a
 * WebSocket. Replaces `Deno.serve`, whose accept loop ends for good on `EMFILE` and which cannot
 * count the sockets it holds nor close one whose request never finishes.
 *
 * @module
 */

import { acceptLoop } from "../accept_loop.ts";
import type { Logger } from "../log.ts";
import { writeAll } from "../socket_writes.ts";
import {
  findHeadEnd,
  HttpHeadError,
  MAX_HEAD_BYTES,
  parseRequestHead,
  type RequestHead,
} from "./http_request.ts";

/** What the port does with a new socket: serve it, refuse what it asks, or close it at once. */
export type Admission = "serve" | "refuse" | "drop";

/** A handler's answer that keeps the socket (a WebSocket upgrade). */
export interface TakeOver {
  /**
   * Takes the socket and the bytes read past the head; must call `onEnd` once when it closes
   * the socket.
   */
  takeOver(conn: Deno.Conn, rest: Uint8Array, onEnd: () => void): void;
}

/** What a request gets. */
export type HttpAnswer = Response | TakeOver;

/** Options of {@linkcode HttpPort}. */
export interface HttpPortOptions {
  listener: Deno.Listener;
  log: Logger;
  /** A socket that has not sent a whole request head by then is closed. */
  headerTimeoutMs: number;
  /** Decides at accept; a socket not dropped must be released with `release()` once closed. */
  admit(remote: Deno.NetAddr): Admission;
  release(): void;
  /** Answers one request; `refused` is true when the socket came past the connection limit. */
  handle(head: RequestHead, info: { remote: Deno.NetAddr; refused: boolean }): Promise<HttpAnswer>;
}

/** How long writing a response may take before the socket is closed. */
export const RESPONSE_DEADLINE_MS = 30_000;

const STATUS_TEXT: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/** The HTTP port. */
export class HttpPort {
  #options: HttpPortOptions;
  /** Sockets still reading their head or writing their response. */
  #pending = new Set<Deno.Conn>();
  #accepting: Promise<void> | undefined;

  constructor(options: HttpPortOptions) {
    this.#options = options;
  }

  /** Starts accepting. */
  start(): void {
    this.#accepting = acceptLoop({
      listener: this.#options.listener,
      name: "http",
      log: this.#options.log,
      onConn: (conn) => this.#accept(conn),
    });
  }

  /** Stops accepting and closes every socket that has not been handed over. */
  async stop(): Promise<void> {
    try {
      this.#options.listener.close();
    } catch { /* already closed */ }
    for (const conn of this.#pending) closeQuietly(conn);
    await this.#accepting;
  }

  #accept(conn: Deno.Conn): void {
    const admission = this.#options.admit(conn.remoteAddr as Deno.NetAddr);
    if (admission === "drop") {
      closeQuietly(conn);
      return;
    }
    this.#pending.add(conn);
    // Realtime traffic: no Nagle delay on small writes (a TLS conn has no such switch here).
    const tcp = conn as Partial<Deno.TcpConn>;
    if (typeof tcp.setNoDelay === "function") tcp.setNoDelay(true);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#pending.delete(conn);
      this.#options.release();
    };
    this.#exchange(conn, admission === "refuse", release).catch((error) => {
      this.#options.log.debug("http exchange failed", { error });
      closeQuietly(conn);
      release();
    });
  }

  async #exchange(conn: Deno.Conn, refused: boolean, release: () => void): Promise<void> {
    // One deadline for the head (TLS handshake included); closing the socket ends the read.
    let timedOut = false;
    let timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, this.#options.headerTimeoutMs);
    let read: { head: RequestHead; rest: Uint8Array } | HttpHeadError | undefined;
    try {
      read = await readHead(conn);
    } catch (error) {
      if (!timedOut) this.#options.log.debug("http read failed", { error });
      read = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (read === undefined || timedOut) {
      closeQuietly(conn);
      release();
      return;
    }
    timer = setTimeout(() => closeQuietly(conn), RESPONSE_DEADLINE_MS);
    try {
      if (read instanceof HttpHeadError) {
        await writeResponse(conn, new Response(`${read.message}\n`, { status: read.status }), {
          method: "GET",
        });
        return;
      }
      const answer = await this.#options.handle(read.head, {
        remote: conn.remoteAddr as Deno.NetAddr,
        refused,
      });
      if (answer instanceof Response) {
        await writeResponse(conn, answer, { method: read.head.method });
        return;
      }
      clearTimeout(timer);
      this.#pending.delete(conn);
      answer.takeOver(conn, read.rest, release);
      return;
    } finally {
      clearTimeout(timer);
      if (this.#pending.has(conn)) {
        closeQuietly(conn);
        release();
      }
    }
  }
}

/** Reads until the head's blank line: the head, or the error to answer, or `undefined` at EOF. */
async function readHead(
  conn: Deno.Conn,
): Promise<{ head: RequestHead; rest: Uint8Array } | HttpHeadError | undefined> {
  let buffer = new Uint8Array(1024);
  let have = 0;
  while (true) {
    if (have === buffer.length) {
      if (buffer.length >= MAX_HEAD_BYTES) {
        return new HttpHeadError(431, `The request head is over ${MAX_HEAD_BYTES} bytes`);
      }
      const larger = new Uint8Array(Math.min(buffer.length * 4, MAX_HEAD_BYTES));
      larger.set(buffer);
      buffer = larger;
    }
    const n = await conn.read(buffer.subarray(have));
    if (n === null) return undefined;
    const from = Math.max(0, have - 3);
    have += n;
    const end = findHeadEnd(buffer, have, from);
    if (end < 0) continue;
    try {
      return { head: parseRequestHead(buffer.subarray(0, end)), rest: buffer.subarray(end, have) };
    } catch (error) {
      if (error instanceof HttpHeadError) return error;
      throw error;
    }
  }
}

/** Writes `response` (its body read whole; none for HEAD) with `connection: close`. */
export async function writeResponse(
  conn: Deno.Conn,
  response: Response,
  request: { method: string },
): Promise<void> {
  let body: Uint8Array | undefined;
  if (request.method === "HEAD") {
    await response.body?.cancel();
  } else {
    body = new Uint8Array(await response.arrayBuffer());
  }
  const status = response.status;
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Status"}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "connection" || name === "transfer-encoding") continue;
    if (name === "content-length" && body !== undefined) continue;
    head += `${name}: ${value}\r\n`;
  }
  if (body !== undefined) head += `content-length: ${body.length}\r\n`;
  head += "connection: close\r\n\r\n";
  await writeAll(conn, encoder.encode(head));
  if (body && body.length > 0) await writeAll(conn, body);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
