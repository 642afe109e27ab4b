/**
 * What the gate knows of one connection, whatever carries it (WebSocket or framed TCP).
 *
 * @module
 */

import type { TokenBucket } from "./token_bucket.ts";

/** What a registered service link declared. */
export interface ServiceInfo {
  type: string;
  name: string;
  /** The commands it serves. */
  apis: string[];
  /** Gate events it asked for (e.g. `ss_msg_client_leave`). */
  events: Set<string>;
}

/** One connection to the gate: a client, or a service link once registered. */
export interface Connection {
  /** Unique for the gate's lifetime, never reused. */
  readonly id: number;
  /** `ws` or `tcp`, or `cluster` for a request that came from another gate. */
  readonly transport: "ws" | "tcp" | "cluster";
  /** The peer's address, for logs. */
  readonly remote: string;
  /** The bound user, 0 when none. */
  userId: number;
  /** The token the login service bound with the user, if any. */
  token?: string;
  /** Set once `ss_reg_api` succeeded. */
  service?: ServiceInfo;
  /** When the last message arrived (performance.now()). */
  lastSeen: number;
  /** The request budget (unused for service links). */
  readonly bucket: TokenBucket;
  /** Requests forwarded to this link and not answered yet (service links). */
  inflight: number;
  /** Whether the connection has closed. */
  readonly closed: boolean;
  /** Bytes handed to the transport and not yet written to the socket. */
  readonly unsentBytes: number;
  /** Sends one envelope's JSON text. */
  sendText(text: string): void;
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
  /** The connection closed (either side). */
  onClose(connection: Connection): void;
}
