/**
 * Announcements between gates (on `gatehouse.announce`): every second, and at once on a change,
 * a gate says which commands its links serve (with how many links), which service types are
 * linked to it, its run (epoch, first clientId), and which batch forms it reads (`batches`,
 * gate_directory.ts); that is also its heartbeat. What the others
 * say goes into the {@linkcode GateDirectory}; a gate whose run ended (a clean stop, a restart, or
 * no heartbeat for `GATE_LAPSE_MS`) is handed to `onGone`.
 *
 * @module
 */

import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import { ANNOUNCE_SUBJECT } from "./cluster_subjects.ts";
import {
  type Announce,
  BATCHES_LEVEL,
  type GateDirectory,
  type GateGone,
} from "./gate_directory.ts";
import type { LinkDispatcher } from "./link_dispatcher.ts";
import { linkedTypes } from "./local_router.ts";

/** Options of {@linkcode Announcements}. */
export interface AnnouncementsOptions {
  gate: number;
  gateId: string;
  dispatcher: LinkDispatcher;
  directory: GateDirectory;
  log: Logger;
  /** This gate's run, once its number is claimed. */
  run(): { epoch: number; firstId: number } | undefined;
  /** Another gate's run ended. */
  onGone(gone: GateGone): void;
  /** The commands this gate's links route by key (route by key), told to the others. */
  routes?(): Announce["routes"];
}

/** This gate's announcements, and what it hears of the others'. */
export class Announcements {
  #options: AnnouncementsOptions;
  #nc?: NatsConnection;
  #connected = false;

  constructor(options: AnnouncementsOptions) {
    this.#options = options;
  }

  /** Hears the others on a (new) NATS connection. */
  attach(nc: NatsConnection): void {
    this.#nc = nc;
    nc.subscribe(ANNOUNCE_SUBJECT, { callback: (_error, msg) => this.#hear(msg) });
  }

  /** Whether NATS is connected now (announcements are sent, lapses counted, only then). */
  set connected(connected: boolean) {
    this.#connected = connected;
  }

  /** Says what this gate serves now; `down` at a clean stop (it serves nothing more). */
  announce(down = false): void {
    const run = this.#options.run();
    if (!this.#nc || !this.#connected || !run) return;
    const links = this.#options.dispatcher.links;
    const serves: Record<string, number> = {};
    if (!down) { for (const cmd of links.commands) serves[cmd] = links.count(cmd); }
    const announce: Announce = {
      gate: this.#options.gate,
      gateId: this.#options.gateId,
      epoch: run.epoch,
      firstId: run.firstId,
      serves,
      types: down ? [] : [...linkedTypes(this.#options.dispatcher)],
      down: down || undefined,
      routes: down ? undefined : this.#options.routes?.(),
      batches: BATCHES_LEVEL,
    };
    this.#nc.publish(ANNOUNCE_SUBJECT, JSON.stringify(announce));
  }

  /** Hands the gates not heard for a lapse to `onGone` (only while connected). */
  checkLapses(): void {
    if (!this.#connected) return;
    for (const gone of this.#options.directory.lapsed()) this.#options.onGone(gone);
  }

  #hear(msg: Msg): void {
    let announce: Announce;
    try {
      announce = msg.json<Announce>();
    } catch {
      return;
    }
    const gate = announce?.gate;
    if (!Number.isSafeInteger(gate) || gate < 1) return;
    if (gate === this.#options.gate) {
      if (
        announce.gateId !== this.#options.gateId || announce.epoch !== this.#options.run()?.epoch
      ) {
        this.#options.log.error("gate number collision", { gate, other: announce.gateId });
      }
      return;
    }
    const gone = this.#options.directory.hear(announce);
    if (gone) this.#options.onGone(gone);
  }
}
