/**
 * One connection's transport, whatever carries it (WebSocket or framed TCP): its id, its peer,
 * and how to send to it and close it. What the gate knows of the peer (its user, its service,
 * its budget) is the {@linkcode Session} beside it (session.ts).
 *
 * @module
 */

/** One transport connection to the gate. */
export interface Connection {
  /** Unique for the gate's lifetime, never reused. */
  readonly id: number;
  /** `ws` or `tcp`. */
  readonly transport: "ws" | "tcp";
  /** The peer's address, for logs. */
  readonly remote: string;
  /** Whether the connection has closed (or is closing). */
  readonly closed: boolean;
  /** Bytes handed to the transport and not yet written to the socket. */
  readonly unsentBytes: number;
  /** Sends one envelope's JSON text. */
  sendText(text: string): void;
  /**
   * Sends one envelope's JSON text already encoded as UTF-8 (an answer passed on as it came);
   * the bytes are copied before it returns.
   */
  sendUtf8(bytes: Uint8Array): void;
  /** Reports a protocol fault (an `Error` frame, or `sc_msg_error` over WebSocket text). */
  sendError(msg: string, code?: number): void;
  /** Closes the connection, saying why. */
  close(reason: string, code?: number): void;
}

/** Close codes used on WebSocket connections (TCP ones send an Error frame). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
} as const;

/** What a transport tells the gate about a connection. */
export interface ConnectionEvents {
  /** One envelope's text arrived. */
  onText(connection: Connection, text: string): void;
  /** Something other than an envelope arrived (the peer is alive). */
  onActivity?(connection: Connection): void;
  /** The connection closed (either side). */
  onClose(connection: Connection): void;
}
