/**
 * A connection of the license server as the seat desk sees it (`DeskClient`): its framed link,
 * the seat it holds or waits for, and when the server last pinged it.
 *
 * @module
 */

import { nextSeq } from "../../shared/frame.ts";
import { errorBody } from "../../shared/protocol_error.ts";
import type { MessageTypeName, MessageTypes } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import type { FramedLink } from "../framed_link.ts";
import type { DeskClient } from "./seat_desk.ts";
import type { SeatClaim } from "./seat_pool.ts";

/** A connection of the server, as the seat desk sees it. */
export class Client implements DeskClient {
  readonly id: number;
  readonly remote: string;
  readonly conn: FramedLink;
  readonly #types: MessageTypes;
  claim?: SeatClaim;
  pending?: { seq: number; claim: SeatClaim };
  /** When the server last sent it a HeartbeatReq. */
  lastPing = Date.now();
  /** When the oldest HeartbeatReq not answered yet was sent (its round trip is measured). */
  pingSentAt?: number;
  /** When a sweep first found it silent for 3 intervals (it is dropped at a later sweep). */
  silentSince?: number;
  #seq = 0;

  constructor(id: number, conn: FramedLink, types: MessageTypes) {
    this.id = id;
    this.conn = conn;
    this.#types = types;
    const addr = conn.remoteAddr;
    this.remote = addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }

  get lastReceived(): number {
    return this.conn.lastReceived;
  }

  /** When the last frame was read, on the server's silence clock. */
  get receivedAt(): number {
    return this.conn.receivedAt;
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  /** The next sequence number for a frame this side starts (1, 2, … wrapping past 2³²−1). */
  nextSeq(): number {
    this.#seq = nextSeq(this.#seq);
    return this.#seq;
  }

  send(name: MessageTypeName, seq: number, body: object): void {
    this.conn.sendFrame({ seq, type: this.#types.number(name), body: JSON.stringify(body) });
  }

  error(seq: number, msg: string, code: number = State.BAD_REQUEST): void {
    this.conn.sendFrame({ seq, type: this.#types.number("Error"), body: errorBody(msg, code) });
  }

  drop(msg: string, code: number): void {
    this.error(0, msg, code);
    this.conn.closeAfterFlush();
  }
}
