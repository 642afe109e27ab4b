/**
 * The routing core behind one small interface (DESIGN.md, "The gate"): register and unregister
 * service links, route a request, take a service's answer, and deliver a push, a kick or a user
 * binding to a clientId. Single node uses {@linkcode LocalRouter}; cluster mode is a second
 * implementation of the same interface.
 *
 * @module
 */

import type { RequestEnvelope, ResponseEnvelope } from "../../shared/mod.ts";
import type { Connection } from "./connection.ts";

/** The gate's routing core. */
export interface Router {
  /** A link registered (its `service` is set), or registered again with other commands. */
  addLink(link: Connection): void;
  /** A link closed: its pending requests are answered `SERVER_OFF`. */
  removeLink(link: Connection): void;
  /** Forwards a request to one service instance; its answer, or the gate's, reaches `from`. */
  route(from: Connection, request: RequestEnvelope): void;
  /** A service link answered a forwarded request. */
  answer(link: Connection, response: ResponseEnvelope): void;
  /** Sends one push text to many clients; returns how many were reached. */
  push(clientIds: number[], text: string): number;
  /** Binds a user to a client; false when the client is not connected. */
  bindUser(
    binding: { clientId: number; userId: number; token?: string },
  ): boolean | Promise<boolean>;
  /** Unbinds a user from a client when it is bound to that user. */
  unbindUser(binding: { clientId: number; userId: number }): boolean | Promise<boolean>;
  /** Pushes `sc_msg_kicked` to a client, then closes it. */
  kick(kick: { clientId: number; reason: string }): boolean | Promise<boolean>;
  /** A client (not a service link) left: tells the links that asked. */
  clientLeft(client: { id: number; userId: number }): void;
  /** Whether routing works fully (`ok`) or only for this gate's own links (`degraded`). */
  health(): RouterHealth;
  /** Sends a response the gate itself makes (counted in the metrics). */
  respond(to: Connection, response: ResponseEnvelope): void;
  /** Answers every pending request `SERVER_OFF` and stops timers. */
  close(): void;
}

/** What `/healthz` reports of the routing core. */
export interface RouterHealth {
  status: "ok" | "degraded";
  /** Why it is degraded. */
  reason?: string;
}
