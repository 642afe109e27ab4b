/**
 * The seats of a floating license: a capacity, the holders keyed by instance id, and a
 * first-come first-served queue of logins that asked to wait. Pure logic, no I/O: every change
 * happens synchronously, so that seat counting stays exact however many logins arrive at once.
 *
 * An instance id holds at most one seat or one place in the queue. A login with an instance id
 * that already holds a seat (or waits) from another connection, with the same host and user,
 * takes that seat (or place) over instead of taking a second one: a client that reconnects
 * after a dropped connection gets its own seat back before the server has noticed the drop.
 *
 * @example
 * ```ts
 * import { SeatPool } from "./seat_pool.ts";
 * const pool = new SeatPool({ capacity: 1 });
 * pool.acquire({ instanceId: "a", host: "h", user: "u", owner: 1, wait: false }); // granted
 * pool.acquire({ instanceId: "b", host: "h", user: "u", owner: 2, wait: true }); // queued
 * pool.release("a").granted; // [the seat of "b"]
 * ```
 * @module
 */

import type { LoginReq } from "../../shared/license_messages.ts";

/** Who asks for a seat: a `LoginReq` less `wait`. */
export type SeatClaim = Omit<LoginReq, "wait">;

/** A held seat, or a place in the queue. */
export interface Seat extends SeatClaim {
  /** The connection that holds it (or waits for it). */
  owner: number;
  /** When it was granted (or queued), ms since epoch. */
  since: number;
}

/** What {@linkcode SeatPool.acquire} takes: the login, with `wait` to queue it, not refuse it. */
export interface AcquireOptions extends LoginReq {
  /** The connection that asks. */
  owner: number;
  /** The time, ms since epoch; defaults to now. */
  now?: number;
}

/** The outcome of {@linkcode SeatPool.acquire}. */
export type AcquireResult =
  | {
    kind: "granted";
    seat: Seat;
    /** Whether the instance already held this seat (a reconnect). */
    reclaimed: boolean;
    /** The connection the seat was taken from, when another one held it. */
    previousOwner?: number;
  }
  | { kind: "queued"; waiter: Seat; position: number; previousOwner?: number }
  | { kind: "refused"; reason: string };

/** What {@linkcode SeatPool.release} and {@linkcode SeatPool.setCapacity} give back. */
export interface ReleaseResult {
  /** The seat released, when there was one. */
  seat?: Seat;
  /** Seats granted from the queue as a result, in queue order. */
  granted: Seat[];
}

/** Options of {@linkcode SeatPool}. */
export interface SeatPoolOptions {
  /** How many seats may be held; defaults to 0. */
  capacity?: number;
  /** Longest queue; defaults to 10 000. */
  maxQueue?: number;
}

/** Seats, holders and the wait queue. */
export class SeatPool {
  #capacity: number;
  #maxQueue: number;
  #held = new Map<string, Seat>();
  #queue: Seat[] = [];

  /** A pool with `capacity` seats (0 when absent). */
  constructor(options: SeatPoolOptions = {}) {
    this.#capacity = checkCount("capacity", options.capacity ?? 0);
    this.#maxQueue = checkCount("maxQueue", options.maxQueue ?? 10_000);
  }

  /** How many seats may be held. */
  get capacity(): number {
    return this.#capacity;
  }

  /** How many seats are held. */
  get held(): number {
    return this.#held.size;
  }

  /** How many seats are free (0 when a lowered capacity is still over-held). */
  get free(): number {
    return Math.max(0, this.#capacity - this.#held.size);
  }

  /** How many logins wait in the queue. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** The held seats, oldest first. */
  holders(): Seat[] {
    return [...this.#held.values()].sort((a, b) => a.since - b.since).map((s) => ({ ...s }));
  }

  /** The queue, first in line first. */
  waiters(): Seat[] {
    return this.#queue.map((s) => ({ ...s }));
  }

  /** The seat an instance holds. */
  seat(instanceId: string): Seat | undefined {
    const seat = this.#held.get(instanceId);
    return seat && { ...seat };
  }

  /** Takes a seat, queues the login, or refuses it with a sentence saying why. */
  acquire(options: AcquireOptions): AcquireResult {
    const now = options.now ?? Date.now();
    const held = this.#held.get(options.instanceId);
    if (held) {
      if (!sameClaim(held, options)) {
        return {
          kind: "refused",
          reason: `Instance ${options.instanceId} already holds a seat for another host or user`,
        };
      }
      const previousOwner = held.owner !== options.owner ? held.owner : undefined;
      held.owner = options.owner;
      return { kind: "granted", seat: { ...held }, reclaimed: true, previousOwner };
    }
    const index = this.#queue.findIndex((w) => w.instanceId === options.instanceId);
    if (index >= 0) {
      const waiter = this.#queue[index];
      if (!sameClaim(waiter, options)) {
        return {
          kind: "refused",
          reason:
            `Instance ${options.instanceId} already waits for a seat for another host or user`,
        };
      }
      if (options.wait) {
        const previousOwner = waiter.owner !== options.owner ? waiter.owner : undefined;
        waiter.owner = options.owner;
        return { kind: "queued", waiter: { ...waiter }, position: index + 1, previousOwner };
      }
      this.#queue.splice(index, 1);
    }
    if (this.free > 0 && this.#queue.length === 0) {
      const seat = this.#grant(options, now);
      return { kind: "granted", seat: { ...seat }, reclaimed: false };
    }
    if (!options.wait) {
      return { kind: "refused", reason: `All ${this.#capacity} seats are in use` };
    }
    if (this.#queue.length >= this.#maxQueue) {
      return {
        kind: "refused",
        reason: `All ${this.#capacity} seats are in use and ${this.#maxQueue} logins already wait`,
      };
    }
    const waiter: Seat = {
      instanceId: options.instanceId,
      host: options.host,
      user: options.user,
      owner: options.owner,
      since: now,
    };
    this.#queue.push(waiter);
    return { kind: "queued", waiter: { ...waiter }, position: this.#queue.length };
  }

  /**
   * Gives a seat back and grants free seats to the queue. When `owner` is given, only a seat
   * that connection holds is released (a connection that was taken over releases nothing).
   */
  release(instanceId: string, options: { owner?: number; now?: number } = {}): ReleaseResult {
    const seat = this.#held.get(instanceId);
    if (!seat || (options.owner !== undefined && seat.owner !== options.owner)) {
      return { granted: [] };
    }
    this.#held.delete(instanceId);
    return { seat: { ...seat }, granted: this.#drain(options.now ?? Date.now()) };
  }

  /** Takes an instance out of the queue (only the given owner's place, when given). */
  cancel(instanceId: string, options: { owner?: number } = {}): Seat | undefined {
    const index = this.#queue.findIndex((w) =>
      w.instanceId === instanceId && (options.owner === undefined || w.owner === options.owner)
    );
    if (index < 0) return undefined;
    return this.#queue.splice(index, 1)[0];
  }

  /**
   * Changes the capacity. Seats already held are never taken back: a lower capacity only stops
   * new grants until enough are released. A higher one grants seats to the queue.
   */
  setCapacity(capacity: number, now: number = Date.now()): Seat[] {
    this.#capacity = checkCount("capacity", capacity);
    return this.#drain(now);
  }

  /** Empties the pool; returns the seats that were held. */
  clear(): Seat[] {
    const seats = this.holders();
    this.#held.clear();
    this.#queue = [];
    return seats;
  }

  #grant(claim: SeatClaim & { owner: number }, now: number): Seat {
    const seat: Seat = {
      instanceId: claim.instanceId,
      host: claim.host,
      user: claim.user,
      owner: claim.owner,
      since: now,
    };
    this.#held.set(seat.instanceId, seat);
    return seat;
  }

  #drain(now: number): Seat[] {
    const granted: Seat[] = [];
    while (this.free > 0 && this.#queue.length > 0) {
      granted.push({ ...this.#grant(this.#queue.shift()!, now) });
    }
    return granted;
  }
}

function sameClaim(a: SeatClaim, b: SeatClaim): boolean {
  return a.host === b.host && a.user === b.user;
}

function checkCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`SeatPool ${name} must be a whole number of at least 0`);
  }
  return value;
}
