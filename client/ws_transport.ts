/**
 * The WebSocket transport: envelopes as text messages; `Error` frames in binary messages and
 * `sc_msg_error` pushes are protocol faults.
 *
 * @module
 */

import { decodeFrame, DEFAULT_MESSAGE_TYPES, frameText } from "../shared/mod.ts";
import type { OpenTransport, Transport } from "./transport.ts";

/** Opens a WebSocket to the gate. Resolves once open; rejects when it cannot connect. */
export const openWebSocketTransport: OpenTransport = (url, handlers) => {
  if (typeof WebSocket === "undefined") {
    return Promise.reject(
      new Error("This runtime has no WebSocket: use a tcp:// URL, or Node 22 and later"),
    );
  }
  return new Promise<Transport>((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    let open = false;
    socket.onopen = () => {
      open = true;
      resolve({
        send(text) {
          if (socket.readyState === WebSocket.OPEN) socket.send(text);
        },
        close() {
          try {
            socket.close(1000);
          } catch { /* already closing */ }
        },
      });
    };
    socket.onmessage = (event: MessageEvent) => {
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
    socket.onclose = (event: CloseEvent) => {
      if (!open) {
        reject(new Error(`Could not open a WebSocket to ${url}`));
        return;
      }
      handlers.onClose(event.reason || `closed with code ${event.code}`);
    };
  });
};
