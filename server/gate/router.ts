/**
 * The routing core behind one small interface (DESIGN.md, "The gate"): register and unregister
 * service links, route a request, take a service's answer, and deliver a push, a kick or a user
 * binding to a clientId. Single node uses {@linkcode LocalRouter}; cluster mode is a second
 * implementation of the same interface. Both put this gate's links in one
 * {@linkcode LinkDispatcher}; answers reach a requester through its session's `reply`.
 *
 * @module
 */

import type {
  KeyClaim,
  KeyNotifyChange,
  RequestEnvelope,
  ResponseEnvelope,
} from "../../shared/mod.ts";
import type { ClaimOutcome } from "./key_directory.ts";
import type { ServiceInfo, Session } from "./session.ts";

/** A user binding on a client. */
export interface Binding {
  clientId: number;
  userId: number;
  token?: string;
  /** The user's username, stamped as `userName` on the client's requests. */
  username?: string;
}

/** The gate's routing core. */
export interface Router {
  /** A session registered as a service link (its `service` is set), or registered again. */
  addLink(link: Session): void;
  /** A link closed: its pending requests are answered `SERVER_OFF`. */
  removeLink(link: Session): void;
  /** Routes a request to one service instance; the answer, or the gate's, reaches `from.reply`. */
  route(from: Session, request: RequestEnvelope): void;
  /**
   * A service link answered a forwarded request. `text` is the link's text of it when it may be
   * passed on as it came (validated, nothing filled in: answer_text.ts).
   */
  answer(link: Session, response: ResponseEnvelope, text?: string): void;
  /** Sends one push text to many clients; returns how many were reached (or sent on). */
  push(clientIds: number[], text: string): number;
  /** Binds a user to a client; false when the client is not connected. */
  bindUser(binding: Binding): Promise<boolean>;
  /** Unbinds a user from a client when it is bound to that user. */
  unbindUser(binding: { clientId: number; userId: number }): Promise<boolean>;
  /** Pushes `sc_msg_kicked` to a client, then closes it. */
  kick(kick: { clientId: number; reason: string }): Promise<boolean>;
  /** A session of this gate (a client or a link) left: tells the links that asked. */
  clientLeft(client: { id: number; userId: number }): void;
  /**
   * Why a link's declared routes cannot be taken (other links serve one of its commands with
   * another route), or undefined.
   */
  routeConflict(link: Session, service: ServiceInfo): string | undefined;
  /** Claims a key in the link's key space (its type); refused when another link holds it. */
  claimKey(link: Session, claim: KeyClaim): Promise<ClaimOutcome>;
  /** Adds and removes clientIds told when a key is lost; false when the link does not hold it. */
  notifyKey(link: Session, change: KeyNotifyChange): Promise<boolean>;
  /** Releases a key the link holds; false when it does not hold it. */
  releaseKey(link: Session, key: string): Promise<boolean>;
  /**
   * Whether a service has served `cmd` (in cluster mode: on any gate): such a command gets its
   * own label in the metrics, and `SERVER_OFF` when no instance is left.
   */
  knows(cmd: string): boolean;
  /**
   * The service types (`ss_reg_api` `type`) of the links this gate's requests can reach now:
   * its own, and in cluster mode those of the other gates heard (for `/readyz`).
   */
  serviceTypes(): Set<string>;
  /** Whether routing works fully (`ok`) or only for this gate's own links (`degraded`). */
  health(): RouterHealth;
  /** Answers every pending request `SERVER_OFF` and stops timers. */
  close(): Promise<void>;
}

/** What `/healthz` reports of the routing core. */
export interface RouterHealth {
  status: "ok" | "degraded";
  /** Why it is degraded. */
  reason?: string;
}
