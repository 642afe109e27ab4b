/**
 * The single-node {@linkcode Router}: service links and clients of this gate only.
 *
 * @module
 */

import {
  FRAME_HEADER_BYTES,
  GateCmd,
  makePush,
  makeResponse,
  type RequestEnvelope,
  type ResponseEnvelope,
  State,
  stateName,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { addressOf, normalizeAddress } from "./client_source.ts";
import { CloseCode, type Connection } from "./connection.ts";
import type { Connections } from "./connections.ts";
import type { GateMetrics } from "./metrics.ts";
import { type PendingRequest, PendingRequests } from "./pending_requests.ts";
import type { Router, RouterHealth } from "./router.ts";
import { ServiceLinks } from "./service_links.ts";

/**
 * Sets the fields a service may trust: the sender's clientId, address, bound user, and whether
 * it is a service link. Whatever the sender wrote there is overwritten.
 */
export function stampSender(request: RequestEnvelope, from: Connection): void {
  request.clientId = from.id;
  const address = addressOf(from.remote);
  request.clientAddr = normalizeAddress(address) ?? address;
  request.userId = from.userId;
  request.is_ss_link = from.service !== undefined;
}

/** Options of {@linkcode LocalRouter}. */
export interface LocalRouterOptions {
  connections: Connections;
  metrics: GateMetrics;
  log: Logger;
  requestTimeoutMs: number;
  maxInflight: number;
  maxUnsentBytes: number;
  /**
   * The gate's message limit: a request that would be over it once the sender's fields are
   * added is refused rather than forwarded, since the service could not read it, and an answer
   * over it is replaced by an error, since the client could not.
   */
  maxMessageBytes?: number;
}

const encoder = new TextEncoder();

/** Whether text is more than `max` bytes of UTF-8. */
function overBytes(text: string, max: number): boolean {
  return text.length > max || (text.length * 3 > max && encoder.encode(text).length > max);
}

/** Routes within one gate. */
export class LocalRouter implements Router {
  #connections: Connections;
  #metrics: GateMetrics;
  #log: Logger;
  #links: ServiceLinks;
  #pending: PendingRequests;
  #timeoutMs: number;
  #maxUnsent: number;
  #maxMessage: number;

  constructor(options: LocalRouterOptions) {
    this.#connections = options.connections;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#maxUnsent = options.maxUnsentBytes;
    // Room for a frame's header: over framed TCP the limit counts the whole frame.
    this.#maxMessage = (options.maxMessageBytes ?? Infinity) - FRAME_HEADER_BYTES;
    this.#links = new ServiceLinks({ maxInflight: options.maxInflight });
    this.#pending = new PendingRequests({
      timeoutMs: options.requestTimeoutMs,
      onTimeout: (request) =>
        this.#answerPending(request, {
          state: State.TIMEOUT,
          msg: `No answer to ${request.cmd} within ${this.#timeoutMs} ms`,
        }),
    });
    options.metrics.gauge("pending_requests", {
      help: "Requests forwarded and not answered yet",
      read: () => this.#pending.size,
    });
    options.metrics.gauge("service_links", {
      help: "Registered service links",
      read: () => this.#links.size,
    });
  }

  addLink(link: Connection): void {
    this.#links.add(link);
  }

  removeLink(link: Connection): void {
    this.#links.remove(link);
    for (const request of this.#pending.takeLink(link)) {
      this.#answerPending(request, {
        state: State.SERVER_OFF,
        msg: `The service handling ${request.cmd} went away before answering`,
      });
    }
  }

  route(from: Connection, request: RequestEnvelope): void {
    const pick = this.#links.pick(request.cmd);
    if (!pick.link) {
      this.respond(from, makeResponse(request, { state: pick.state, msg: pick.msg }));
      return;
    }
    stampSender(request, from);
    this.forward({ link: pick.link, from, request });
  }

  /**
   * Forwards a request whose sender fields are already set to one link, keeping it pending
   * until the link answers (cluster mode calls this for requests from other gates).
   */
  forward(options: { link: Connection; from: Connection; request: RequestEnvelope }): void {
    const { link, from, request } = options;
    const clientMsgId = request.msgId;
    request.msgId = this.#pending.add({ clientMsgId, cmd: request.cmd, client: from, link });
    const text = JSON.stringify(request);
    if (overBytes(text, this.#maxMessage)) {
      this.#pending.take(request.msgId, link);
      this.respond(
        from,
        makeResponse({ cmd: request.cmd, msgId: clientMsgId }, {
          state: State.BAD_REQUEST,
          msg: `The request is over the limit of ${this.#maxMessage} bytes once the gate ` +
            "adds the sender's fields",
        }),
      );
      return;
    }
    this.#send(link, text);
  }

  /** This gate's service links: who serves what now, and what was ever served here. */
  get links(): ServiceLinks {
    return this.#links;
  }

  answer(link: Connection, response: ResponseEnvelope): void {
    const request = this.#pending.take(response.msgId, link);
    if (!request) {
      this.#log.debug("late response dropped", { cmd: response.cmd, msgId: response.msgId });
      return;
    }
    response.msgId = request.clientMsgId;
    response.cmd = request.cmd;
    delete response.clientId;
    let text = JSON.stringify(response);
    let state = response.state;
    if (overBytes(text, this.#maxMessage)) {
      state = State.FAIL;
      text = JSON.stringify(
        makeResponse({ cmd: request.cmd, msgId: request.clientMsgId }, {
          state,
          msg: `The answer to ${request.cmd} is over the limit of ${this.#maxMessage} bytes`,
        }),
      );
    }
    this.#metrics.inc("responses_total", `state="${stateName(state)}"`);
    this.#send(request.client, text);
  }

  push(clientIds: number[], text: string): number {
    let reached = 0;
    for (const id of clientIds) {
      const client = this.#connections.get(id);
      if (!client || client.closed) continue;
      this.#send(client, text);
      reached++;
    }
    this.#metrics.inc("pushes_total", undefined, reached);
    return reached;
  }

  bindUser(binding: { clientId: number; userId: number; token?: string }): boolean {
    const client = this.#connections.get(binding.clientId);
    if (!client || client.closed) return false;
    client.userId = binding.userId;
    client.token = binding.token;
    return true;
  }

  unbindUser(binding: { clientId: number; userId: number }): boolean {
    const client = this.#connections.get(binding.clientId);
    if (!client || client.userId !== binding.userId) return false;
    client.userId = 0;
    client.token = undefined;
    return true;
  }

  kick(kick: { clientId: number; reason: string }): boolean {
    const client = this.#connections.get(kick.clientId);
    if (!client || client.closed) return false;
    client.sendText(JSON.stringify(makePush(GateCmd.KICKED, { reason: kick.reason })));
    client.close(`Kicked: ${kick.reason}`, CloseCode.POLICY);
    return true;
  }

  clientLeft(client: { id: number; userId: number }): void {
    const text = JSON.stringify(
      makePush(GateCmd.CLIENT_LEAVE, { clientId: client.id, userId: client.userId }),
    );
    for (const link of this.#links.listeners(GateCmd.CLIENT_LEAVE)) this.#send(link, text);
  }

  /** Single node is always healthy while running. */
  health(): RouterHealth {
    return { status: "ok" };
  }

  close(): void {
    this.#pending.close();
    for (const request of this.#pending.takeAll()) {
      this.#answerPending(request, { state: State.SERVER_OFF, msg: "The gate is shutting down" });
    }
  }

  /** Sends a response the gate itself makes, counting it. */
  respond(to: Connection, response: ResponseEnvelope): void {
    this.#metrics.inc("responses_total", `state="${stateName(response.state)}"`);
    this.#send(to, JSON.stringify(response));
  }

  #answerPending(request: PendingRequest, answer: { state: number; msg: string }): void {
    if (request.client.closed) return;
    this.respond(
      request.client,
      makeResponse({ cmd: request.cmd, msgId: request.clientMsgId }, answer),
    );
  }

  /** Sends, and closes a reader that lets too many bytes pile up. */
  #send(to: Connection, text: string): void {
    to.sendText(text);
    if (to.unsentBytes > this.#maxUnsent && !to.closed) {
      this.#metrics.inc("slow_readers_closed_total");
      this.#log.warn("slow reader closed", { clientId: to.id, unsent: to.unsentBytes });
      to.close(
        `More than ${this.#maxUnsent} bytes unsent: the reader is too slow`,
        CloseCode.POLICY,
      );
    }
  }
}
