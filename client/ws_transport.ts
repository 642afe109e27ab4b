/**
 * The WebSocket transport: envelopes as text messages; `Error` frames in binary messages and
 * `sc_msg_error` pushes are protocol faults.
 *
 * @module
 */

import { decodeFrame, DEFAULT_MESSAGE_TYPES, frameText } from "../shared/mod.ts";
import { loadNodeWebSocket } from "./node_websocket.ts";
import type { OpenTransport, Transport, WebSocketConstructor } from "./transport.ts";

/** The part of a WebSocket (the runtime's or the `ws` package's) this transport uses. */
interface Socket {
  binaryType: string;
  readyState: number;
  send(text: string): void;
  close(code?: number): void;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: (() => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

/** `WebSocket.OPEN`, the same in every implementation. */
const OPEN = 1;

/** The class to use: the option, the runtime's own, or the `ws` package. */
async function webSocketClass(
  given: WebSocketConstructor | undefined,
): Promise<WebSocketConstructor> {
  if (given) return given;
  const own = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (own) return own;
  const fromPackage = await loadNodeWebSocket();
  if (fromPackage) return fromPackage;
  throw new Error(
    "This runtime has no WebSocket: install the ws package (npm install ws), pass a WebSocket " +
      "class as the WebSocket option, or use a tcp:// URL",
  );
}

/** Opens a WebSocket to the gate. Resolves once open; rejects when it cannot connect. */
export const openWebSocketTransport: OpenTransport = async (url, handlers, options) => {
  const WebSocketClass = await webSocketClass(options?.WebSocket);
  return new Promise<Transport>((resolve, reject) => {
    const socket = new WebSocketClass(url) as Socket;
    socket.binaryType = "arraybuffer";
    let open = false;
    socket.onopen = () => {
      open = true;
      resolve({
        send(text) {
          if (socket.readyState === OPEN) socket.send(text);
        },
        close() {
          try {
            socket.close(1000);
          } catch { /* already closing */ }
        },
      });
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        handlers.onText(event.data);
        return;
      }
      try {
        const frame = decodeFrame(new Uint8Array(event.data as ArrayBuffer));
        const text = frameText(frame);
        if (frame.type === DEFAULT_MESSAGE_TYPES.Error) {
          handlers.onProtocolError?.(JSON.parse(text));
        } else handlers.onText(text);
      } catch {
        // A gate that sends a broken frame is not one we can talk to.
        socket.close(1002);
      }
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (!open) {
        reject(new Error(`Could not open a WebSocket to ${url}`));
        return;
      }
      handlers.onClose(event.reason || `closed with code ${event.code}`);
    };
  });
};
