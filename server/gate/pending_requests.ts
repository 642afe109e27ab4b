/**
 * The requests the gate forwarded to a service link and has not seen answered yet. Each gets a
 * gate-wide id (the `msgId` the service sees), so that two clients' ids never collide; the
 * client's own id is restored on the way back.
 *
 * @module
 */

import type { ServiceLink } from "./service_links.ts";
import type { Reply, Session } from "./session.ts";

/** One forwarded request. */
export interface PendingRequest {
  /** The id the service sees. */
  gateMsgId: number;
  /** The id the client chose. */
  clientMsgId: number;
  cmd: string;
  /** How the answer reaches the requester (a client here, or a gate over NATS). */
  reply: Reply;
  link: ServiceLink;
  /** performance.now() after which the request has timed out. */
  deadline: number;
}

/** Options of {@linkcode PendingRequests}. */
export interface PendingRequestsOptions {
  timeoutMs: number;
  /** Called for each request whose deadline passed (already removed). */
  onTimeout(request: PendingRequest): void;
}

/**
 * The pending-request table. Entries are kept in arrival order, which with one timeout is also
 * deadline order, so the sweep stops at the first entry still in time.
 */
export class PendingRequests {
  #entries = new Map<number, PendingRequest>();
  #byLink = new Map<ServiceLink, Set<number>>();
  #nextId = 0;
  #timeoutMs: number;
  #onTimeout: (request: PendingRequest) => void;
  #timer: ReturnType<typeof setInterval>;

  constructor(options: PendingRequestsOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#onTimeout = options.onTimeout;
    const every = Math.max(5, Math.min(100, Math.floor(options.timeoutMs / 10)));
    this.#timer = setInterval(() => this.sweep(), every);
  }

  /** How many requests are waiting. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records a forwarded request; returns the id the service will see. */
  add(request: { clientMsgId: number; cmd: string; reply: Reply; link: ServiceLink }): number {
    this.#nextId = this.#nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.#nextId + 1;
    const gateMsgId = this.#nextId;
    this.#entries.set(gateMsgId, {
      ...request,
      gateMsgId,
      deadline: performance.now() + this.#timeoutMs,
    });
    let ids = this.#byLink.get(request.link);
    if (!ids) this.#byLink.set(request.link, ids = new Set());
    ids.add(gateMsgId);
    request.link.inflight++;
    return gateMsgId;
  }

  /** Removes and returns the request a response answers, when it came from the right link. */
  take(gateMsgId: number, link: Session): PendingRequest | undefined {
    const entry = this.#entries.get(gateMsgId);
    if (!entry || entry.link.session !== link) return undefined;
    this.#remove(entry);
    return entry;
  }

  /** Removes and returns every request waiting on a link. */
  takeLink(link: ServiceLink): PendingRequest[] {
    const ids = this.#byLink.get(link);
    if (!ids) return [];
    const taken: PendingRequest[] = [];
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (entry) taken.push(entry);
    }
    for (const entry of taken) this.#remove(entry);
    this.#byLink.delete(link);
    return taken;
  }

  /** Removes and returns every request. */
  takeAll(): PendingRequest[] {
    const all = [...this.#entries.values()];
    for (const entry of all) this.#remove(entry);
    return all;
  }

  /** Times out the requests past their deadline. */
  sweep(now: number = performance.now()): void {
    for (const entry of this.#entries.values()) {
      if (entry.deadline > now) break;
      this.#remove(entry);
      this.#onTimeout(entry);
    }
  }

  /** Stops the sweep timer. */
  close(): void {
    clearInterval(this.#timer);
  }

  #remove(entry: PendingRequest): void {
    this.#entries.delete(entry.gateMsgId);
    const ids = this.#byLink.get(entry.link);
    ids?.delete(entry.gateMsgId);
    if (ids && ids.size === 0) this.#byLink.delete(entry.link);
    entry.link.inflight--;
  }
}
