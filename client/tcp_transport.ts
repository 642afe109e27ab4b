/**
 * The framed-TCP transport (`tcp://host:port`, `tls://host:port`) on `node:net` and `node:tls`,
 * so that it runs on Deno and on Node alike.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import {
  DEFAULT_MESSAGE_TYPES,
  encodeFrame,
  FrameDecoder,
  frameText,
  type MessageTypes,
  nextSeq,
} from "../shared/mod.ts";
import type { OpenTransport, Transport, TransportOptions } from "./transport.ts";

/** Host and port of a `tcp://` or `tls://` URL. */
export function parseTcpUrl(url: string): { host: string; port: number; secure: boolean } {
  const match = url.match(/^(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/);
  if (!match) throw new TypeError(`${url} is not a tcp://host:port or tls://host:port URL`);
  return {
    host: match[2].replace(/^\[|\]$/g, ""),
    port: Number(match[3]),
    secure: match[1] === "tls",
  };
}

/** Options of the framed-TCP transport. */
export interface TcpTransportOptions extends TransportOptions {
  /** The message-type table; the default numbering when absent. */
  types?: MessageTypes;
}

/** Opens a framed-TCP connection to the gate. */
export const openTcpTransport: OpenTransport = (url, handlers, options?: TcpTransportOptions) => {
  const { host, port, secure } = parseTcpUrl(url);
  const envelopeType = options?.types?.number("Envelope") ?? DEFAULT_MESSAGE_TYPES.Envelope;
  const errorType = options?.types?.number("Error") ?? DEFAULT_MESSAGE_TYPES.Error;
  return new Promise<Transport>((resolve, reject) => {
    const socket: net.Socket = secure
      ? tls.connect({
        host,
        port,
        ca: options?.caCerts,
        servername: net.isIP(host) ? undefined : host,
      })
      : net.connect({ host, port, localAddress: options?.localAddress });
    socket.setNoDelay(true);
    // Each frame's text is decoded at once below and no bytes are kept: frames view the chunk.
    const decoder = new FrameDecoder({ maxFrameBytes: options?.maxFrameBytes, views: true });
    let seq = 0;
    let corked = false;
    let open = false;
    let closeReason = "";
    socket.once(secure ? "secureConnect" : "connect", () => {
      open = true;
      resolve({
        send(text) {
          if (socket.destroyed) return;
          seq = nextSeq(seq);
          // Frames sent in one turn of the event loop leave in one write (bench/FINDINGS.md,
          // finding 2): a service link answering many requests makes one syscall, not one each.
          if (!corked) {
            corked = true;
            socket.cork();
            queueMicrotask(() => {
              corked = false;
              socket.uncork();
            });
          }
          socket.write(encodeFrame({ seq, type: envelopeType, body: text }));
        },
        close() {
          socket.end();
          setTimeout(() => socket.destroy(), 1000).unref?.();
        },
      });
    });
    socket.on("data", (chunk: Uint8Array) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        closeReason = (error as Error).message;
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        let text: string;
        try {
          text = frameText(frame);
        } catch {
          continue;
        }
        if (frame.type === envelopeType) handlers.onText(text);
        else if (frame.type === errorType) {
          try {
            const error = JSON.parse(text);
            closeReason = error.msg ?? closeReason;
            handlers.onProtocolError?.(error);
          } catch { /* not JSON */ }
        }
      }
    });
    socket.on("error", (error: Error) => {
      if (!open) reject(new Error(`Could not connect to ${url}: ${error.message}`));
      closeReason ||= error.message;
    });
    socket.on("close", () => {
      if (open) handlers.onClose(closeReason || "connection closed");
      else reject(new Error(`Could not connect to ${url}`));
    });
  });
};
