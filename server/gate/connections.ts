/**
 * Every open session of the gate by its clientId, which is never reused.
 *
 * @module
 */

import type { Session } from "./session.ts";

/** The session table. */
export class Connections {
  #byId = new Map<number, Session>();
  #next: () => number;

  /**
   * `nextId` hands out clientIds (cluster mode: blocks claimed through NATS); single node counts
   * 1, 2, 3, ….
   */
  constructor(options: { nextId?: () => number } = {}) {
    let last = 0;
    this.#next = options.nextId ?? (() => ++last);
  }

  /** A new clientId, unique for the gate's lifetime. */
  nextId(): number {
    return this.#next();
  }

  /** How many sessions are open. */
  get size(): number {
    return this.#byId.size;
  }

  /** Adds a session under its id. */
  add(session: Session): void {
    this.#byId.set(session.id, session);
  }

  /** Removes a session. */
  delete(session: Session): void {
    this.#byId.delete(session.id);
  }

  /** The session of a clientId. */
  get(id: number): Session | undefined {
    return this.#byId.get(id);
  }

  /** Every open session. */
  values(): IterableIterator<Session> {
    return this.#byId.values();
  }
}
