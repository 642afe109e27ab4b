/**
 * What a gate knows of the other gates (no I/O): which commands each serves with how many links,
 * its epoch, when it was last heard; which gates to try for a command, in a rotation weighted by
 * link counts; and which gates are down. Each method says who has to be told.
 *
 * Rules:
 * - A gate is heard through its announce (every {@linkcode ANNOUNCE_MS}, and on a change).
 * - A gate not heard for {@linkcode GATE_LAPSE_MS} is down: all its clientIds left.
 * - A gate heard with another epoch restarted: the clientIds of its earlier runs (below the new
 *   run's first id) left.
 * - A gate that says `down` (a clean stop) is down at once.
 * - After this gate rejoins NATS, every other gate gets a full lapse from then.
 *
 * @module
 */

import { CLIENTS_PER_GATE } from "./cluster_ids.ts";
import type { LinkRoute } from "./service_links.ts";

/** How often a gate announces what it serves (its heartbeat). */
export const ANNOUNCE_MS = 1000;
/** A gate not heard for this long is down. */
export const GATE_LAPSE_MS = 3 * ANNOUNCE_MS;

/**
 * The level of the batch forms this gate reads (`batches` in its announce): 1, requests batched
 * per (gate, command) subject and answers batched per requesting run (cluster_answers.ts). A
 * gate sends a batch to another only when that gate's last announce says at least 1; a gate not
 * heard yet, or of a version before batches (no field), gets each request and answer alone.
 */
export const BATCHES_LEVEL = 1;

/** What a gate announces. */
export interface Announce {
  gate: number;
  gateId: string;
  /** The block of clientIds the gate's run began with. */
  epoch: number;
  /** The first clientId of the run: lower ones are earlier runs'. */
  firstId: number;
  /** Command → how many of the gate's links serve it. */
  serves: Record<string, number>;
  /** The service types (`ss_reg_api` `type`) linked to the gate, for `/readyz`. */
  types?: string[];
  /** Set once, by a gate stopping cleanly. */
  down?: boolean;
  /** Command → its declared route (route by key), for the commands declared routed only. */
  routes?: Record<string, LinkRoute>;
  /**
   * The batch forms the gate reads ({@linkcode BATCHES_LEVEL}); absent (a gate of an earlier
   * version) or 0: none, it gets each request and answer alone.
   */
  batches?: number;
}

/** A gate found down: its clientIds from `gate × 2^32` up to `toClientId` left. */
export interface GateGone {
  gate: number;
  reason: "no heartbeat" | "restarted" | "stopped";
  toClientId: number;
  /** The epoch of the run that ended. */
  epoch: number;
}

interface OtherGate {
  gateId: string;
  epoch: number;
  firstId: number;
  serves: Map<string, number>;
  routes?: Map<string, LinkRoute>;
  types: Set<string>;
  /** The batch level it said it reads (0: none). */
  batches: number;
  seen: number;
}

/** The other gates of the cluster, as heard. */
export class GateDirectory {
  #self: number;
  #others = new Map<number, OtherGate>();
  #known = new Set<string>();
  #turn = new Map<string, number>();

  /** `self` is this gate's number (its own announces are not taken). */
  constructor(options: { self: number }) {
    this.#self = options.self;
  }

  /** Whether any gate has served `cmd`. */
  knows(cmd: string): boolean {
    return this.#known.has(cmd);
  }

  /** The service types linked to the other gates (as last heard). */
  types(): Set<string> {
    const types = new Set<string>();
    for (const other of this.#others.values()) for (const type of other.types) types.add(type);
    return types;
  }

  /** Records commands some gate served. */
  learn(cmds: Iterable<string>): void {
    for (const cmd of cmds) this.#known.add(cmd);
  }

  /** Takes an announce; returns the gate run it ends, if any (undefined for this gate's own). */
  hear(announce: Announce, now: number = Date.now()): GateGone | undefined {
    const gate = announce.gate;
    if (gate === this.#self) return undefined;
    const known = this.#others.get(gate);
    if (announce.down) {
      this.#others.delete(gate);
      return known
        ? { gate, reason: "stopped", toClientId: (gate + 1) * CLIENTS_PER_GATE, epoch: known.epoch }
        : undefined;
    }
    const gone: GateGone | undefined = known && known.epoch !== announce.epoch
      ? { gate, reason: "restarted", toClientId: announce.firstId, epoch: known.epoch }
      : undefined;
    const serves = new Map<string, number>();
    for (const [cmd, n] of Object.entries(announce.serves ?? {})) {
      if (Number.isSafeInteger(n) && n > 0) serves.set(cmd, n);
    }
    this.learn(serves.keys());
    let routes: Map<string, LinkRoute> | undefined;
    if (announce.routes && typeof announce.routes === "object") {
      routes = new Map(Object.entries(announce.routes).filter(([cmd]) => serves.has(cmd)));
    }
    const types = new Set(
      Array.isArray(announce.types)
        ? announce.types.filter((t) => typeof t === "string").slice(0, 1000)
        : [],
    );
    this.#others.set(gate, {
      gateId: announce.gateId,
      epoch: announce.epoch,
      firstId: announce.firstId,
      serves,
      routes,
      types,
      batches: batchesLevel(announce.batches),
      seen: now,
    });
    return gone;
  }

  /** The route another gate declared for `cmd` (route by key), if any gate did. */
  routeOf(cmd: string): LinkRoute | undefined {
    for (const other of this.#others.values()) {
      const route = other.routes?.get(cmd);
      if (route) return route;
    }
    return undefined;
  }

  /**
   * Whether `gate`'s last announce says it reads batches (of level 1 or more): false for a gate
   * not heard now, or of a version before batches.
   */
  readsBatches(gate: number): boolean {
    const other = this.#others.get(gate);
    return other !== undefined && other.batches >= BATCHES_LEVEL;
  }

  /** The epoch of the run of `gate` heard now, or undefined when the gate is not heard. */
  epochOf(gate: number): number | undefined {
    return this.#others.get(gate)?.epoch;
  }

  /**
   * The first clientId of the run of `gate` heard now, or undefined when the gate is not heard
   * (down, or never heard): a clientId of that gate below it is of an earlier run.
   */
  firstIdOf(gate: number): number | undefined {
    return this.#others.get(gate)?.firstId;
  }

  /** Removes and returns the gates not heard for a lapse. */
  lapsed(now: number = Date.now()): GateGone[] {
    const gone: GateGone[] = [];
    for (const [gate, other] of this.#others) {
      if (other.seen >= now - GATE_LAPSE_MS) continue;
      this.#others.delete(gate);
      gone.push({
        gate,
        reason: "no heartbeat",
        toClientId: (gate + 1) * CLIENTS_PER_GATE,
        epoch: other.epoch,
      });
    }
    return gone;
  }

  /** This gate rejoined NATS: nobody could be heard meanwhile, so every gate gets a new lapse. */
  rejoined(now: number = Date.now()): void {
    for (const other of this.#others.values()) other.seen = now;
  }

  /**
   * The gates to try for `cmd`, in order, starting at the next in the rotation weighted by link
   * counts (`own` for this gate); undefined when only this gate serves it.
   */
  targets(cmd: string, own: number): number[] | undefined {
    let total = own;
    const gates: number[] = own > 0 ? [this.#self] : [];
    const weights: number[] = own > 0 ? [own] : [];
    for (const [gate, other] of this.#others) {
      const n = other.serves.get(cmd);
      if (!n) continue;
      gates.push(gate);
      weights.push(n);
      total += n;
    }
    if (gates.length === 1 && own > 0) return undefined;
    if (gates.length <= 1) return gates;
    const turn = this.#turn.get(cmd) ?? 0;
    this.#turn.set(cmd, (turn + 1) % total);
    let at = turn;
    let first = 0;
    while (at >= weights[first]) at -= weights[first++];
    return [...gates.slice(first), ...gates.slice(0, first)];
  }
}

/** The batch level an announce says, checked: a positive safe integer, else 0 (none). */
function batchesLevel(level: unknown): number {
  return typeof level === "number" && Number.isSafeInteger(level) && level > 0 ? level : 0;
}
