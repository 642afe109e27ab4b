/**
 * Requests this gate sent to another gate over NATS and not yet settled, by the gate they went
 * to: when that gate is found dead, each is answered `SERVER_OFF` at once, not at its timeout.
 * Each call settles once: the first of its answer, its error or its gate's death wins.
 *
 * @module
 */

import type { Reply } from "./session.ts";

/** One request in flight to another gate. */
export interface RemoteCall {
  gate: number;
  cmd: string;
  msgId: number;
  reply: Reply;
  settled: boolean;
}

/** The table of calls in flight, by gate. */
export class RemoteCalls {
  #byGate = new Map<number, Set<RemoteCall>>();
  #size = 0;

  /** How many calls are in flight. */
  get size(): number {
    return this.#size;
  }

  /** Records a call. */
  add(call: Omit<RemoteCall, "settled">): RemoteCall {
    const entry: RemoteCall = { ...call, settled: false };
    let set = this.#byGate.get(call.gate);
    if (!set) this.#byGate.set(call.gate, set = new Set());
    set.add(entry);
    this.#size++;
    return entry;
  }

  /** Marks a call settled; false when it already was (its answer must be dropped). */
  settle(call: RemoteCall): boolean {
    if (call.settled) return false;
    call.settled = true;
    const set = this.#byGate.get(call.gate);
    if (set?.delete(call)) this.#size--;
    if (set && set.size === 0) this.#byGate.delete(call.gate);
    return true;
  }

  /** Settles and returns every call in flight to a gate. */
  takeGate(gate: number): RemoteCall[] {
    const set = this.#byGate.get(gate);
    if (!set) return [];
    const calls = [...set];
    for (const call of calls) this.settle(call);
    return calls;
  }

  /** Settles and returns every call. */
  takeAll(): RemoteCall[] {
    return [...this.#byGate.keys()].flatMap((gate) => this.takeGate(gate));
  }
}
