/**
 * Requests this gate sent to another gate over NATS and not yet settled. Each has an id (the last
 * token of its reply subject, so one wildcard subscription takes every answer) and a deadline.
 * Entries are kept in arrival order, which with one timeout is deadline order, so the sweep stops
 * at the first call still in time (as in pending_requests.ts) — no timer per request. When the
 * gate a call went to is found dead, its calls are taken at once. Each call settles once: the
 * first of its answer, its timeout or its gate's death takes it out.
 *
 * @module
 */

import type { Reply } from "./session.ts";

/** One request in flight to another gate. */
export interface RemoteCall<T = unknown> {
  id: number;
  gate: number;
  cmd: string;
  msgId: number;
  reply: Reply;
  /** performance.now() after which the call has timed out. */
  deadline: number;
  /** What the caller needs to carry on (the router's attempt). */
  context: T;
}

/** Options of {@linkcode RemoteCalls}. */
export interface RemoteCallsOptions<T> {
  timeoutMs: number;
  /** Called for each call whose deadline passed (already taken out). */
  onTimeout(call: RemoteCall<T>): void;
}

/** The table of calls in flight, by id and by gate. */
export class RemoteCalls<T = unknown> {
  #byId = new Map<number, RemoteCall<T>>();
  #byGate = new Map<number, Set<RemoteCall<T>>>();
  #nextId = 0;
  #timeoutMs: number;
  #onTimeout: (call: RemoteCall<T>) => void;
  #timer: ReturnType<typeof setInterval>;

  constructor(options: RemoteCallsOptions<T>) {
    this.#timeoutMs = options.timeoutMs;
    this.#onTimeout = options.onTimeout;
    const every = Math.max(5, Math.min(100, Math.floor(options.timeoutMs / 10)));
    this.#timer = setInterval(() => this.sweep(), every);
  }

  /** How many calls are in flight. */
  get size(): number {
    return this.#byId.size;
  }

  /** Records a call; its id names its reply subject. */
  add(call: Omit<RemoteCall<T>, "id" | "deadline">): RemoteCall<T> {
    this.#nextId = this.#nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.#nextId + 1;
    const entry: RemoteCall<T> = {
      ...call,
      id: this.#nextId,
      deadline: performance.now() + this.#timeoutMs,
    };
    this.#byId.set(entry.id, entry);
    let set = this.#byGate.get(call.gate);
    if (!set) this.#byGate.set(call.gate, set = new Set());
    set.add(entry);
    return entry;
  }

  /** Takes the call an answer is for; undefined when it already settled. */
  take(id: number): RemoteCall<T> | undefined {
    const call = this.#byId.get(id);
    if (call) this.#remove(call);
    return call;
  }

  /** Takes every call in flight to a gate. */
  takeGate(gate: number): RemoteCall<T>[] {
    const set = this.#byGate.get(gate);
    if (!set) return [];
    const calls = [...set];
    for (const call of calls) this.#remove(call);
    return calls;
  }

  /** Takes every call. */
  takeAll(): RemoteCall<T>[] {
    const calls = [...this.#byId.values()];
    for (const call of calls) this.#remove(call);
    return calls;
  }

  /** Times out the calls past their deadline. */
  sweep(now: number = performance.now()): void {
    for (const call of this.#byId.values()) {
      if (call.deadline > now) break;
      this.#remove(call);
      this.#onTimeout(call);
    }
  }

  /** Stops the sweep timer. */
  close(): void {
    clearInterval(this.#timer);
  }

  #remove(call: RemoteCall<T>): void {
    this.#byId.delete(call.id);
    const set = this.#byGate.get(call.gate);
    set?.delete(call);
    if (set && set.size === 0) this.#byGate.delete(call.gate);
  }
}
