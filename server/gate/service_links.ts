/**
 * Which service links serve which command, and the round-robin pick among them.
 *
 * @module
 */

import { State } from "../../shared/mod.ts";
import type { Session } from "./session.ts";

/** A registered service link and the requests it holds. */
export class ServiceLink {
  /** The link's session. */
  readonly session: Session;
  /** Requests forwarded to this link and not answered yet. */
  inflight = 0;

  constructor(session: Session) {
    this.session = session;
  }
}

interface Rotation {
  links: ServiceLink[];
  next: number;
}

/** The outcome of picking a link: the link, or the state to answer with. */
export type LinkPick =
  | { link: ServiceLink; state?: undefined }
  | { link?: undefined; state: number; msg: string };

/** Command → links, round-robin, with a per-link in-flight limit. */
export class ServiceLinks {
  #byCmd = new Map<string, Rotation>();
  #everServed = new Set<string>();
  #byEvent = new Map<string, Set<ServiceLink>>();
  #links = new Map<Session, ServiceLink>();
  #maxInflight: number;

  constructor(options: { maxInflight: number }) {
    this.#maxInflight = options.maxInflight;
  }

  /** The number of registered links. */
  get size(): number {
    return this.#links.size;
  }

  /** The commands served by at least one link now. */
  get commands(): string[] {
    return [...this.#byCmd.keys()];
  }

  /**
   * Adds a session for its `service.apis` and `service.events`, replacing an earlier
   * registration (its requests in flight stay counted).
   */
  add(session: Session): ServiceLink | undefined {
    const link = this.#links.get(session) ?? new ServiceLink(session);
    this.remove(session);
    const service = session.service;
    if (!service) return undefined;
    this.#links.set(session, link);
    for (const cmd of service.apis) {
      let rotation = this.#byCmd.get(cmd);
      if (!rotation) this.#byCmd.set(cmd, rotation = { links: [], next: 0 });
      rotation.links.push(link);
      this.#everServed.add(cmd);
    }
    for (const event of service.events) {
      let set = this.#byEvent.get(event);
      if (!set) this.#byEvent.set(event, set = new Set());
      set.add(link);
    }
    return link;
  }

  /** Removes a session from every command and event; returns its link record. */
  remove(session: Session): ServiceLink | undefined {
    const link = this.#links.get(session);
    if (!link) return undefined;
    this.#links.delete(session);
    for (const [cmd, rotation] of this.#byCmd) {
      const i = rotation.links.indexOf(link);
      if (i < 0) continue;
      rotation.links.splice(i, 1);
      if (rotation.links.length === 0) this.#byCmd.delete(cmd);
      else if (rotation.next > i) rotation.next--;
    }
    for (const set of this.#byEvent.values()) set.delete(link);
    return link;
  }

  /** Every registered link. */
  all(): Iterable<ServiceLink> {
    return this.#links.values();
  }

  /** How many links serve `cmd` now. */
  count(cmd: string): number {
    return this.#byCmd.get(cmd)?.links.length ?? 0;
  }

  /** Whether any link serves `cmd` now. */
  serves(cmd: string): boolean {
    return this.#byCmd.has(cmd);
  }

  /** Whether a link has ever served `cmd`. */
  everServed(cmd: string): boolean {
    return this.#everServed.has(cmd);
  }

  /** The next link for `cmd` under its in-flight limit, or why there is none. */
  pick(cmd: string): LinkPick {
    const rotation = this.#byCmd.get(cmd);
    if (!rotation) {
      return this.#everServed.has(cmd)
        ? { state: State.SERVER_OFF, msg: `No service for ${cmd} is connected` }
        : { state: State.UNDEFINED_CMD, msg: `No service has registered ${cmd}` };
    }
    const n = rotation.links.length;
    for (let tried = 0; tried < n; tried++) {
      const i = (rotation.next + tried) % n;
      const link = rotation.links[i];
      if (link.inflight < this.#maxInflight && !link.session.conn.closed) {
        rotation.next = (i + 1) % n;
        return { link };
      }
    }
    return { state: State.SERVER_BUSY, msg: `Every service for ${cmd} is at its in-flight limit` };
  }

  /** The links that asked for a gate event. */
  listeners(event: string): Iterable<ServiceLink> {
    return this.#byEvent.get(event) ?? [];
  }
}
