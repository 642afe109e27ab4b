/**
 * A transport carries envelope texts to and from the gate: WebSocket (`ws://`, `wss://`) or
 * framed TCP (`tcp://`, `tls://`).
 *
 * @module
 */

/** What a transport reports. */
export interface TransportHandlers {
  /** One envelope's text arrived. */
  onText(text: string): void;
  /** The peer reported a protocol fault (an `Error` frame). */
  onProtocolError?(error: { code: number; msg: string }): void;
  /** The connection closed; `reason` says why when known. */
  onClose(reason: string): void;
}

/** An open connection to the gate. */
export interface Transport {
  /** Sends one envelope's text. */
  send(text: string): void;
  /** Closes the connection; `onClose` follows. */
  close(): void;
}

/**
 * A WebSocket class: the runtime's own, or one like the `ws` package's (`import WebSocket from
 * "ws"`). Typed loosely on purpose, so that any such class fits without DOM types.
 */
export type WebSocketConstructor = new (url: string) => object;

/** Options every transport understands. */
export interface TransportOptions {
  /**
   * The WebSocket class for `ws://` and `wss://`. Default: the runtime's own, or on a runtime
   * without one (Node 20) the `ws` package when it is installed.
   */
  WebSocket?: WebSocketConstructor;
  /** PEM CA certificates to trust for `tls://` (framed TCP). */
  caCerts?: string[];
  /** Largest frame accepted from the gate. */
  maxFrameBytes?: number;
  /** The local address to connect from (`tcp://` only; e.g. `127.0.0.2`). */
  localAddress?: string;
}

/** Opens a transport to a URL. */
export type OpenTransport = (
  url: string,
  handlers: TransportHandlers,
  options?: TransportOptions,
) => Promise<Transport>;

/**
 * Opens a transport by the URL's scheme. Framed TCP loads `node:net` only when asked for, so
 * that a browser never needs it.
 */
export const openTransport: OpenTransport = async (url, handlers, options) => {
  const scheme = url.slice(0, url.indexOf(":"));
  if (scheme === "ws" || scheme === "wss") {
    const { openWebSocketTransport } = await import("./ws_transport.ts");
    return openWebSocketTransport(url, handlers, options);
  }
  if (scheme === "tcp" || scheme === "tls") {
    const { openTcpTransport } = await import("./tcp_transport.ts");
    return openTcpTransport(url, handlers, options);
  }
  throw new TypeError(`Gate URL ${url} must start with ws://, wss://, tcp:// or tls://`);
};
