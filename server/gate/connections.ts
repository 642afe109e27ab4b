/**
 * Every open connection of the gate by its clientId, which is never reused.
 *
 * @module
 */

import type { Connection } from "./connection.ts";

/** The connection table. */
export class Connections {
  #byId = new Map<number, Connection>();
  #lastId = 0;
  #base: number;

  /** `base` is added to every id: the gate's share of the cluster's clientIds (0 alone). */
  constructor(options: { base?: number } = {}) {
    this.#base = options.base ?? 0;
  }

  /** A new clientId, unique for the gate's lifetime. */
  nextId(): number {
    return this.#base + ++this.#lastId;
  }

  /** How many connections are open. */
  get size(): number {
    return this.#byId.size;
  }

  add(connection: Connection): void {
    this.#byId.set(connection.id, connection);
  }

  delete(connection: Connection): void {
    this.#byId.delete(connection.id);
  }

  get(id: number): Connection | undefined {
    return this.#byId.get(id);
  }

  values(): IterableIterator<Connection> {
    return this.#byId.values();
  }
}
