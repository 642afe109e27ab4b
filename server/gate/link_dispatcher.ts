/**
 * The link dispatcher: the one routing core both routers share (DESIGN.md, "The gate"). It keeps
 * this gate's service links, forwards a request to one of them and keeps it pending until the
 * link answers, the link leaves (`SERVER_OFF`) or the request times out (`TIMEOUT`), and sends
 * with the slow-reader cap. Who asked is only a {@linkcode Reply}: a client of this gate, or
 * another gate over NATS — the dispatcher cannot tell and need not.
 *
 * @example
 * ```ts ignore
 * const dispatcher = new LinkDispatcher({ metrics, log, requestTimeoutMs: 10_000,
 *   maxInflight: 1000, maxUnsentBytes: 8 << 20 });
 * dispatcher.addLink(serviceSession);
 * dispatcher.dispatch(request, client.reply);
 * ```
 * @module
 */

import {
  FRAME_HEADER_BYTES,
  isRouteKey,
  makeResponse,
  type RequestEnvelope,
  type ResponseEnvelope,
  State,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { CloseCode, type Connection } from "./connection.ts";
import type { GateMetrics } from "./metrics.ts";
import { Gather } from "./gather.ts";
import { type HeldKey, KeyDirectory } from "./key_directory.ts";
import { type PendingRequest, PendingRequests } from "./pending_requests.ts";
import { type RequestHead, withMsgId } from "./cluster_request_text.ts";
import { answerText } from "./answer_text.ts";
import {
  type LinkPick,
  type LinkRoute,
  type Rotation,
  type ServiceLink,
  ServiceLinks,
} from "./service_links.ts";
import type { Reply, Session } from "./session.ts";

/** Options of {@linkcode LinkDispatcher}. */
export interface LinkDispatcherOptions {
  metrics: GateMetrics;
  log: Logger;
  requestTimeoutMs: number;
  /** Requests one link may hold unanswered before it is skipped. */
  maxInflight: number;
  /** A reader with more bytes unsent than this is closed. */
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

/** The value of `data[field]` of a request when it can be a routing key, else undefined. */
export function routeKeyOf(
  request: RequestEnvelope,
  field: string | undefined,
): string | undefined {
  const data = request.data;
  if (field === undefined || typeof data !== "object" || data === null) return undefined;
  const value = (data as Record<string, unknown>)[field];
  return isRouteKey(value) ? value : undefined;
}

/** Service links, pending requests, forward and answer, and the slow-reader cap. */
export class LinkDispatcher {
  #metrics: GateMetrics;
  #log: Logger;
  #links: ServiceLinks;
  #pending: PendingRequests;
  #timeoutMs: number;
  #maxUnsent: number;
  #maxMessage: number;
  #maxInflight: number;
  #keys = new KeyDirectory<ServiceLink>();

  constructor(options: LinkDispatcherOptions) {
    this.#maxInflight = options.maxInflight;
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

  /** This gate's service links: who serves what now, and what was ever served here. */
  get links(): ServiceLinks {
    return this.#links;
  }

  /** The keys this gate's links claimed (route by key). */
  get keys(): KeyDirectory<ServiceLink> {
    return this.#keys;
  }

  /** How many forwarded requests wait for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** A session registered (its `service` is set), or registered again with other commands. */
  addLink(session: Session): void {
    this.#links.add(session);
  }

  /**
   * A link left: each of its pending requests is answered `SERVER_OFF` at once, and the keys it
   * claimed are dropped and returned, for the router to tell their clientIds.
   */
  removeLink(session: Session): HeldKey<ServiceLink>[] {
    const link = this.#links.remove(session);
    if (!link) return [];
    for (const request of this.#pending.takeLink(link)) {
      this.#answerPending(request, {
        state: State.SERVER_OFF,
        msg: `The service handling ${request.cmd} went away before answering`,
      });
    }
    return this.#keys.dropOwner(link);
  }

  /** Picks a link for `cmd` (round-robin, skipping one at its in-flight limit). */
  pick(cmd: string): LinkPick {
    return this.#links.pick(cmd);
  }

  /**
   * Forwards a request whose sender fields are set to a link of this gate, or answers with why
   * there is none.
   */
  dispatch(request: RequestEnvelope, reply: Reply): void {
    const rotation = this.#links.rotation(request.cmd);
    if (rotation?.route !== undefined) {
      this.dispatchRouted({ request, reply, rotation, route: rotation.route });
      return;
    }
    const pick = this.#links.pickIn(request.cmd, rotation);
    if (pick.link) this.forward({ link: pick.link, request, reply });
    else this.refuse({ request, reply, state: pick.state, msg: pick.msg });
  }

  /**
   * Dispatches a command declared routed (shared/key_routes.ts) among this gate's links: to the
   * owner of its key (any link when none owns it), or gathered from every link.
   */
  dispatchRouted(
    options: { request: RequestEnvelope; reply: Reply; rotation: Rotation; route: LinkRoute },
  ): void {
    const { request, reply, rotation, route } = options;
    if (route.gather !== undefined) {
      this.gather({ request, reply, rotation, field: route.gather });
      return;
    }
    const owner = this.keyOwner(route, request);
    if (owner) {
      if (owner.inflight >= this.#maxInflight) {
        this.refuse({
          request,
          reply,
          state: State.SERVER_BUSY,
          msg: `The service for ${request.cmd} that holds its key is at its in-flight limit`,
        });
      } else this.forward({ link: owner, request, reply });
      return;
    }
    const pick = this.#links.pickIn(request.cmd, rotation);
    if (pick.link) this.forward({ link: pick.link, request, reply });
    else this.refuse({ request, reply, state: pick.state, msg: pick.msg });
  }

  /** The open link of this gate that owns the key of a request routed `by` a field, if any. */
  keyOwner(route: LinkRoute, request: RequestEnvelope): ServiceLink | undefined {
    const key = routeKeyOf(request, route.by);
    if (key === undefined) return undefined;
    const owner = this.#keys.owner(route.space, key);
    return owner && !owner.session.conn.closed ? owner : undefined;
  }

  /**
   * Sends a gathered request to every link of its rotation and answers once with the joined
   * answer (gather.ts). `reply` may be a part of a cluster-wide gather.
   */
  gather(
    options: { request: RequestEnvelope; reply: Reply; rotation?: Rotation; field: string },
  ): void {
    const { request, reply, field } = options;
    const rotation = options.rotation ?? this.#links.rotation(request.cmd);
    const links = rotation?.links.filter((link) => !link.session.conn.closed) ?? [];
    if (links.length === 0) {
      const pick = this.#links.pickIn(request.cmd, undefined);
      if (!pick.link) this.refuse({ request, reply, state: pick.state, msg: pick.msg });
      return;
    }
    if (links.some((link) => link.inflight >= this.#maxInflight)) {
      this.refuse({
        request,
        reply,
        state: State.SERVER_BUSY,
        msg: `A service for ${request.cmd} is at its in-flight limit`,
      });
      return;
    }
    const gather = new Gather({ request, field, parts: links.length, reply });
    for (const link of links) this.forward({ link, request: { ...request }, reply: gather.part() });
  }

  /** Forwards a request whose sender fields are set to one link, pending until it answers. */
  forward(options: { link: ServiceLink; request: RequestEnvelope; reply: Reply }): void {
    const { link, request, reply } = options;
    const clientMsgId = request.msgId;
    request.msgId = this.#pending.add({ clientMsgId, cmd: request.cmd, reply, link });
    const text = JSON.stringify(request);
    if (overBytes(text, this.#maxMessage)) {
      this.#pending.take(request.msgId, link.session);
      request.msgId = clientMsgId;
      this.#refuseOversized(request, reply);
      return;
    }
    this.send(link.session.conn, text);
  }

  /**
   * Forwards a request that came from another gate as text (cluster_request_text.ts), its
   * sender fields set there, to one link: only its `msgId` is replaced, by the pending id.
   */
  forwardText(
    options: { link: ServiceLink; cmd: string; text: string; head: RequestHead; reply: Reply },
  ): void {
    const { link, cmd, text, head, reply } = options;
    const gateMsgId = this.#pending.add({ clientMsgId: head.msgId, cmd, reply, link });
    const out = withMsgId(text, { head, msgId: gateMsgId });
    if (overBytes(out, this.#maxMessage)) {
      this.#pending.take(gateMsgId, link.session);
      this.#refuseOversized({ cmd, msgId: head.msgId }, reply);
      return;
    }
    this.send(link.session.conn, out);
  }

  #refuseOversized(request: { cmd: string; msgId: number }, reply: Reply): void {
    this.refuse({
      request,
      reply,
      state: State.BAD_REQUEST,
      msg: `The request is over the limit of ${this.#maxMessage} bytes once the gate ` +
        "adds the sender's fields",
    });
  }

  /**
   * Answers a request with a state the gate decided (no service saw it). A request with a
   * `deadline` (a pending one, or a cluster call) is timed from when it arrived; others at 0.
   */
  refuse(
    options: {
      request: { cmd: string; msgId: number; deadline?: number };
      reply: Reply;
      state: number;
      msg: string;
    },
  ): void {
    const { request, reply, state, msg } = options;
    reply(JSON.stringify(makeResponse(request, { state, msg })), state);
    const seconds = request.deadline === undefined ? 0 : this.#elapsed(request.deadline);
    this.#metrics.observeRequest(request.cmd, state, seconds);
  }

  /** Seconds since a request with this deadline arrived. */
  #elapsed(deadline: number): number {
    return Math.max(0, performance.now() - deadline + this.#timeoutMs) / 1000;
  }

  /**
   * A service link answered a forwarded request: the answer goes to whoever asked. `source`, the
   * link's text of the answer (validated, nothing filled in), is passed on with only its `msgId`
   * replaced when it reads as the gate would write it (answer_text.ts); else the answer is
   * encoded anew.
   */
  answer(session: Session, response: ResponseEnvelope, source?: string): void {
    const request = this.#pending.take(response.msgId, session);
    if (!request) {
      this.#log.debug("late response dropped", { cmd: response.cmd, msgId: response.msgId });
      return;
    }
    let text = source === undefined || response.clientId !== undefined ? undefined : answerText(
      source,
      { cmd: request.cmd, msgId: response.msgId, clientMsgId: request.clientMsgId },
    );
    if (text === undefined) {
      response.msgId = request.clientMsgId;
      response.cmd = request.cmd;
      // Left out of the text by JSON.stringify; `delete` would turn the object into a slow
      // dictionary, which costs more to stringify (bench/FINDINGS.md, finding 9).
      response.clientId = undefined;
      text = JSON.stringify(response);
    }
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
    request.reply(text, state);
    this.#metrics.observeRequest(request.cmd, state, this.#elapsed(request.deadline));
  }

  /** Delivers a response to a connection of this gate, counting it by state. */
  deliver(to: Connection, text: string, state: number): void {
    this.#metrics.countResponse(state);
    if (!to.closed) this.send(to, text);
  }

  /**
   * The {@linkcode Reply} of a connection of this gate: {@linkcode deliver}, and `utf8` for an
   * answer passed on as bytes (with the same count and slow-reader cap).
   */
  replyTo(to: Connection): Reply {
    const reply: Reply = (text, state) => this.deliver(to, text, state);
    reply.utf8 = (bytes, state) => {
      this.#metrics.countResponse(state);
      if (to.closed) return;
      to.sendUtf8(bytes);
      this.#capUnsent(to);
    };
    return reply;
  }

  /** Sends one text to every link that asked for a gate event. */
  tell(event: string, text: string): void {
    for (const link of this.#links.listeners(event)) this.send(link.session.conn, text);
  }

  /** Sends, and closes a reader that lets too many bytes pile up. */
  send(to: Connection, text: string): void {
    to.sendText(text);
    this.#capUnsent(to);
  }

  /** Closes a reader that lets too many bytes pile up. */
  #capUnsent(to: Connection): void {
    if (to.unsentBytes > this.#maxUnsent && !to.closed) {
      this.#metrics.inc("slow_readers_closed_total");
      this.#log.warn("slow reader closed", { clientId: to.id, unsent: to.unsentBytes });
      to.close(
        `More than ${this.#maxUnsent} bytes unsent: the reader is too slow`,
        CloseCode.POLICY,
      );
    }
  }

  /** Answers every pending request `SERVER_OFF` and stops the timeout sweep. */
  close(): void {
    this.#pending.close();
    for (const request of this.#pending.takeAll()) {
      this.#answerPending(request, { state: State.SERVER_OFF, msg: "The gate is shutting down" });
    }
  }

  #answerPending(request: PendingRequest, answer: { state: number; msg: string }): void {
    this.refuse({
      request: { cmd: request.cmd, msgId: request.clientMsgId, deadline: request.deadline },
      reply: request.reply,
      ...answer,
    });
  }
}
