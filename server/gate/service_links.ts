/**
 * Which service links serve which command, and the round-robin pick among them.
 *
 * @module
 */

import { type CommandRoute, describeRoute, sameRoute, State } from "../../shared/mod.ts";
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

/** A declared route (shared/key_routes.ts) and the key space its keys live in (the type). */
export type LinkRoute = CommandRoute & { space: string };

/** The links serving one command, the next to pick, and how the command is routed. */
export interface Rotation {
  links: ServiceLink[];
  next: number;
  /** Absent for a command routed round-robin: the fast path checks only this. */
  route?: LinkRoute;
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
      if (!rotation) {
        this.#byCmd.set(cmd, rotation = { links: [], next: 0 });
        const route = service.routes?.get(cmd);
        if (route) rotation.route = { ...route, space: service.type };
      }
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

  /**
   * Why a service's routes cannot join the links already registered (another link serves one of
   * its commands with another route, or in another key space), or undefined when they can.
   */
  routeConflict(
    session: Session,
    service: { type: string; apis: string[]; routes?: Map<string, CommandRoute> },
  ): string | undefined {
    const own = this.#links.get(session);
    for (const cmd of service.apis) {
      const rotation = this.#byCmd.get(cmd);
      if (!rotation || rotation.links.every((link) => link === own)) continue;
      const route = service.routes?.get(cmd);
      const space = route?.by !== undefined ? service.type : undefined;
      const theirs = rotation.route?.by !== undefined ? rotation.route.space : undefined;
      if (!sameRoute(route, rotation.route) || space !== theirs) {
        return `Command ${cmd} is routed ${describeRoute(rotation.route)}${
          theirs === undefined ? "" : ` in key space ${theirs}`
        } by the links that serve it: every instance must declare the same route`;
      }
    }
    return undefined;
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

  /** The links serving `cmd` and how it is routed; undefined when none serves it now. */
  rotation(cmd: string): Rotation | undefined {
    return this.#byCmd.get(cmd);
  }

  /** The link record of a registered session. */
  linkOf(session: Session): ServiceLink | undefined {
    return this.#links.get(session);
  }

  /** The next link for `cmd` under its in-flight limit, or why there is none. */
  pick(cmd: string): LinkPick {
    return this.pickIn(cmd, this.#byCmd.get(cmd));
  }

  /** {@linkcode pick} with the rotation already looked up (undefined when none serves `cmd`). */
  pickIn(cmd: string, rotation: Rotation | undefined): LinkPick {
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
