/**
 * The gate's record of one connection: the bound user, the service it registered, when it was
 * last heard, its request budget, and how an answer reaches it. The transport is
 * {@linkcode Connection}; the routers see sessions and answer through {@linkcode Reply}.
 *
 * @module
 */

import { addressOf, normalizeAddress } from "./client_source.ts";
import type { CommandRoute } from "../../shared/mod.ts";
import type { Connection } from "./connection.ts";
import type { TokenBucket } from "./token_bucket.ts";

/** What a registered service link declared. */
export interface ServiceInfo {
  type: string;
  name: string;
  /** The commands it serves. */
  apis: string[];
  /** Gate events it asked for (e.g. `ss_msg_client_leave`). */
  events: Set<string>;
  /** The commands it declared routed by key or gathered (shared/key_routes.ts). */
  routes?: Map<string, CommandRoute>;
}

/**
 * Delivers the answer to one request: the response envelope's text (its `msgId` the requester's
 * own) and its state, for the metrics and for whoever carries it on. A reply that can send
 * bytes on as they came has `utf8`: an answer from another gate, already the envelope's UTF-8,
 * then reaches the socket without being decoded and encoded again (bench/FINDINGS.md, finding
 * 17).
 */
export interface Reply {
  (text: string, state: number): void;
  /** Delivers the answer's envelope as UTF-8 bytes (read before it returns, not kept). */
  utf8?: (bytes: Uint8Array, state: number) => void;
}

/** Options of {@linkcode Session}. */
export interface SessionOptions {
  conn: Connection;
  bucket: TokenBucket;
  /** How answers reach this session's connection (the gate's slow-reader-capped send). */
  reply: Reply;
}

/** One connection as the gate sees it: a client, or a service link once registered. */
export class Session {
  /** The transport. */
  readonly conn: Connection;
  /** The request budget (unused for service links). */
  readonly bucket: TokenBucket;
  /** Sends an answer to this session. */
  readonly reply: Reply;
  /** The bound user, 0 when none. */
  userId = 0;
  /** The bound user's username, as the login service gave it; undefined when none. */
  userName?: string;
  /** The token the login service bound with the user, if any. */
  token?: string;
  /** Set once `ss_reg_api` succeeded. */
  service?: ServiceInfo;
  /** When the last message arrived (performance.now()). */
  lastSeen = performance.now();
  #clientAddr: string | undefined;

  constructor(options: SessionOptions) {
    this.conn = options.conn;
    this.bucket = options.bucket;
    this.reply = options.reply;
  }

  /** The clientId: the transport's id. */
  get id(): number {
    return this.conn.id;
  }

  /**
   * The peer's address as stamped on its requests (`clientAddr`), normalized: worked out once,
   * since the transport's remote address does not change.
   */
  get clientAddr(): string {
    if (this.#clientAddr === undefined) {
      const address = addressOf(this.conn.remote);
      this.#clientAddr = normalizeAddress(address) ?? address;
    }
    return this.#clientAddr;
  }
}
