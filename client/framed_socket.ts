/**
 * A framed-TCP connection over `node:net`, so that the same code runs on Deno and on Node: it
 * decodes frames with the shared {@linkcode FrameDecoder}, writes with a cap on unsent bytes,
 * and reports once how the connection ended. No Deno or Node globals beyond `node:net`.
 *
 * @example
 * ```ts
 * import { FramedSocket } from "./framed_socket.ts";
 * const socket = await FramedSocket.connect(
 *   { host: "127.0.0.1", port: 8090 },
 *   { onFrame: (frame) => console.log(frame.type), onFault: () => {}, onClose: (why) => console.log(why) },
 * );
 * socket.send({ seq: 1, type: 1, body: "{}" });
 * await socket.close();
 * ```
 * @module
 */

import { createConnection, type Socket } from "node:net";
import { encodeFrame, type Frame, FrameDecoder, FrameError } from "../shared/frame.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../shared/limits.ts";

/** Where and how to connect. */
export interface FramedSocketOptions {
  /** The server's address. */
  host: string;
  /** The server's port. */
  port: number;
  /** Give up connecting after this long; defaults to 5000 ms. */
  connectTimeoutMs?: number;
  /** Largest frame accepted; defaults to 1 MiB. */
  maxFrameBytes?: number;
  /** Unsent bytes past which the connection is closed; defaults to 1 MiB. */
  maxQueuedBytes?: number;
}

/** What a {@linkcode FramedSocket} reports. */
export interface FramedSocketHandlers {
  /** A whole frame arrived. */
  onFrame(frame: Frame): void;
  /** A header failed its checks; the socket closes after this returns (flushing what it sent). */
  onFault(error: FrameError): void;
  /** The connection ended, with a sentence saying why; called once. */
  onClose(reason: string): void;
}

/** A framed connection over a `node:net` socket. */
export class FramedSocket {
  #socket: Socket;
  #handlers: FramedSocketHandlers;
  #decoder: FrameDecoder;
  #maxQueued: number;
  #ended = false;
  #reason: string | undefined;
  #closed: Promise<void>;

  private constructor(
    socket: Socket,
    options: FramedSocketOptions,
    handlers: FramedSocketHandlers,
  ) {
    this.#socket = socket;
    this.#handlers = handlers;
    this.#decoder = new FrameDecoder({
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    });
    this.#maxQueued = options.maxQueuedBytes ?? 1024 * 1024;
    this.#closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.#ended = true;
        handlers.onClose(this.#reason ?? "The server closed the connection");
        resolve();
      });
    });
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("end", () => {
      if (this.#decoder.bufferedBytes > 0) {
        this.#reason ??= "The server closed the connection inside a frame";
      }
      socket.end();
    });
    socket.on("error", (error: Error) => {
      this.#reason ??= `The connection failed: ${error.message}`;
    });
  }

  /** Connects; rejects with a sentence when the server cannot be reached in time. */
  static connect(
    options: FramedSocketOptions,
    handlers: FramedSocketHandlers,
  ): Promise<FramedSocket> {
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: options.host, port: options.port });
      const fail = (message: string) => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on("error", () => {});
        socket.destroy();
        reject(new Error(message));
      };
      const timer = setTimeout(
        () => fail(`No connection to ${options.host}:${options.port} within ${timeoutMs} ms`),
        timeoutMs,
      );
      socket.once(
        "error",
        (error: Error) =>
          fail(`Cannot connect to ${options.host}:${options.port}: ${error.message}`),
      );
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        socket.setNoDelay(true);
        resolve(new FramedSocket(socket, options, handlers));
      });
    });
  }

  /** Whether the connection has ended or is ending. */
  get closed(): boolean {
    return this.#ended || this.#reason !== undefined || this.#socket.destroyed;
  }

  /** Sends a frame; returns false when the connection is closed or was closed for lagging. */
  send(frame: { seq: number; type: number; body: string }): boolean {
    if (this.closed) return false;
    const bytes = encodeFrame(frame);
    if (this.#socket.writableLength + bytes.length > this.#maxQueued) {
      this.#reason = "The server does not read what is sent to it";
      this.#socket.destroy();
      return false;
    }
    this.#socket.write(bytes);
    return true;
  }

  /** Closes now with `reason` (what `onClose` will say); resolves when the socket is closed. */
  close(reason = "The connection was closed by the client"): Promise<void> {
    this.#reason ??= reason;
    this.#socket.destroy();
    return this.#closed;
  }

  /** Closes after flushing what was sent; resolves when the socket is closed. */
  end(reason: string): Promise<void> {
    this.#reason ??= reason;
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 1000);
    return this.#closed.finally(() => clearTimeout(timer));
  }

  #onData(chunk: Uint8Array): void {
    if (this.#reason !== undefined) return;
    let frames: Frame[];
    try {
      // A plain view: Buffer#slice would share memory where FrameDecoder expects a copy.
      frames = this.#decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#handlers.onFault(error);
      void this.end(`The server sent a bad frame: ${error.message}`);
      return;
    }
    for (const frame of frames) {
      if (this.#reason !== undefined) return;
      this.#handlers.onFrame(frame);
    }
  }
}
