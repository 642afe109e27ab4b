/**
 * A gate's identity in the cluster, kept in JetStream KV buckets (DESIGN.md, "Cluster mode"):
 *
 * - `gatehouse_gates`: key = gate number, value = who holds it. A gate claims its number with
 *   a KV create (compare-and-set) and refreshes the entry every second with an update on the
 *   revision it holds; the bucket's TTL frees the number of a gate that died. An entry that is
 *   still refreshed belongs to a live gate: a second gate with that number refuses to start. A
 *   gate restarted with the same id waits until the old entry has not moved for a lapse, then
 *   takes it over (compare-and-set again).
 * - `gatehouse_ids`: key = gate number, value = the next free block of clientIds. Each start
 *   (and each 2^20 connections) takes a new block with compare-and-set, so a clientId is never
 *   reused across restarts: clientId = gate × 2^32 + block × 2^20 + n, below 2^53. The block a
 *   start began with is the gate's epoch. After 4096 blocks a gate number's blocks wrap around.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import { type KV, Kvm } from "@nats-io/kv";
import type { Logger } from "../log.ts";
import { createShared } from "../shared_streams.ts";
import { CLIENTS_PER_GATE } from "./cluster_ids.ts";

/** The bucket of gate claims. */
export const GATES_BUCKET = "gatehouse_gates";
/** The bucket of clientId blocks. */
export const IDS_BUCKET = "gatehouse_ids";
/** ClientIds per block: 2^20. */
export const ID_BLOCK = 2 ** 20;
/** Blocks per gate number: 4096. */
export const BLOCKS_PER_GATE = CLIENTS_PER_GATE / ID_BLOCK;

/** How often a gate refreshes its claim. */
export const CLAIM_REFRESH_MS = 1000;
/** A claim not refreshed for this long belongs to a dead gate. */
export const CLAIM_LAPSE_MS = 3000;
/** The claims bucket's TTL: a dead gate's entry disappears after this. */
export const CLAIM_TTL_MS = 10_000;

/** A second gate with this number is alive: this one must not start. */
export class GateNumberTakenError extends Error {
  /** The gate number. */
  readonly gate: number;

  constructor(gate: number, message: string) {
    super(message);
    this.name = "GateNumberTakenError";
    this.gate = gate;
  }
}

/** What a claim entry holds. */
interface ClaimValue {
  gateId: string;
  epoch?: number;
  pid: number;
}

/** Options of {@linkcode GateIdentity}. */
export interface GateIdentityOptions {
  nc: NatsConnection;
  gate: number;
  gateId: string;
  log: Logger;
  /** How long an unmoving claim is watched before it is taken over (CLAIM_LAPSE_MS). */
  lapseMs?: number;
}

/** A gate's claim on its number and its clientId blocks. */
export class GateIdentity {
  #options: GateIdentityOptions;
  #gates?: KV;
  #ids?: KV;
  #revision = 0;
  #epoch = -1;
  #block = 0;
  #n = 0;
  #nextBlock?: number;
  #fetching = false;
  #lost = false;
  /** Whether an earlier run of this gate number handed out clientIds. */
  previousRun = false;

  constructor(options: GateIdentityOptions) {
    this.#options = options;
  }

  /** The block this run began with (its epoch). */
  get epoch(): number {
    return this.#epoch;
  }

  /** The first clientId of this run. */
  get firstId(): number {
    return this.#base(this.#epoch) + 1;
  }

  /** The lowest clientId of the gate number (any run). */
  get lowestId(): number {
    return this.#options.gate * CLIENTS_PER_GATE;
  }

  /** Whether the claim was lost (another gate took the number over). */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * Claims the gate number and takes a block of clientIds. Throws
   * {@linkcode GateNumberTakenError} when a live gate holds the number (logged), and an error
   * saying so when NATS has no JetStream.
   */
  async claim(): Promise<void> {
    try {
      await this.#claim();
    } catch (error) {
      if (error instanceof GateNumberTakenError) {
        this.#options.log.error("gate number taken", { gate: error.gate, reason: error.message });
      }
      if (error instanceof jserrors.JetStreamNotEnabled) {
        throw new Error(
          `NATS at ${this.#options.nc.getServer()} has no JetStream, which the gates need for ` +
            "their identity: start nats-server with -js (or jetstream {} in its config)",
        );
      }
      throw error;
    }
  }

  async #claim(): Promise<void> {
    const { nc, gate, gateId } = this.#options;
    const kvm = new Kvm(nc);
    this.#gates = await createShared(() =>
      kvm.create(GATES_BUCKET, { ttl: CLAIM_TTL_MS, history: 1 })
    );
    this.#ids = await createShared(() => kvm.create(IDS_BUCKET, { history: 1 }));
    const key = String(gate);
    const value = (): string =>
      JSON.stringify({ gateId, epoch: this.#epoch, pid: Deno.pid } satisfies ClaimValue);
    const held = await this.#gates.get(key);
    if (held && held.operation === "PUT") {
      const holder = parseClaim(held.string());
      this.#options.log.info("gate number held, watching it", {
        gate,
        holder: holder?.gateId,
        lapseMs: this.#options.lapseMs ?? CLAIM_LAPSE_MS,
      });
      const deadline = Date.now() + (this.#options.lapseMs ?? CLAIM_LAPSE_MS);
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const now = await this.#gates.get(key);
        if (!now || now.operation !== "PUT") break;
        if (now.revision !== held.revision) {
          throw new GateNumberTakenError(
            gate,
            `Gate number ${gate} is held by a live gate (id ${holder?.gateId ?? "unknown"}, pid ${
              holder?.pid ?? "unknown"
            }): give this gate another --gate-id`,
          );
        }
      }
      this.#revision = await this.#casOrTaken(() =>
        this.#gates!.update(key, value(), held.revision)
      );
    } else {
      this.#revision = await this.#casOrTaken(() => this.#gates!.create(key, value()));
    }
    const first = await this.#takeBlock();
    this.previousRun = first.earlier;
    this.#epoch = first.block;
    this.#block = this.#epoch;
    this.#revision = await this.#gates.update(key, value(), this.#revision);
  }

  /** A new clientId, never used by this gate number before (until its blocks wrap around). */
  nextId(): number {
    this.#n++;
    if (this.#n === ID_BLOCK / 2) this.#prefetch();
    if (this.#n >= ID_BLOCK) {
      if (this.#nextBlock === undefined) {
        this.#options.log.error("clientId block not renewed in time", { block: this.#block });
        this.#nextBlock = (this.#block + 1) % BLOCKS_PER_GATE;
      }
      this.#block = this.#nextBlock;
      this.#nextBlock = undefined;
      this.#n = 1;
    }
    return this.#base(this.#block) + this.#n;
  }

  /**
   * Uses a new NATS connection (the old one closed): the claim is refreshed, and blocks taken,
   * through it from now on.
   */
  async use(nc: NatsConnection): Promise<void> {
    this.#options = { ...this.#options, nc };
    const kvm = new Kvm(nc);
    this.#gates = await kvm.open(GATES_BUCKET);
    this.#ids = await kvm.open(IDS_BUCKET);
  }

  /**
   * Starts a new run without a restart (the other gates declared this one down): takes a new
   * block of clientIds, which becomes the epoch. ClientIds handed out from now on are at least
   * the new {@linkcode firstId}.
   */
  async renew(): Promise<void> {
    const { block } = await this.#takeBlock();
    this.#epoch = block;
    this.#block = block;
    this.#n = 0;
    this.#nextBlock = undefined;
    this.previousRun = true;
    await this.refresh();
  }

  /** Refreshes the claim; false once another gate took the number over. */
  async refresh(): Promise<boolean> {
    if (!this.#gates || this.#lost) return !this.#lost;
    const key = String(this.#options.gate);
    try {
      this.#revision = await this.#gates.update(
        key,
        JSON.stringify(
          {
            gateId: this.#options.gateId,
            epoch: this.#epoch,
            pid: Deno.pid,
          } satisfies ClaimValue,
        ),
        this.#revision,
      );
      return true;
    } catch (error) {
      if (error instanceof JetStreamApiError && isWrongSequence(error)) {
        // Our entry expired (we were away longer than its TTL): take it back if it is free.
        const now = await this.#gates.get(key).catch(() => null);
        if (!now || now.operation !== "PUT") {
          try {
            this.#revision = await this.#gates.create(key, "{}");
            return await this.refresh();
          } catch { /* taken meanwhile */ }
        }
        this.#lost = true;
        this.#options.log.error("gate number taken over", {
          gate: this.#options.gate,
          holder: now ? parseClaim(now.string())?.gateId : undefined,
        });
        return false;
      }
      throw error;
    }
  }

  /** Gives the number back at a clean stop, so that a restart claims it at once. */
  async release(): Promise<void> {
    if (!this.#gates || this.#lost) return;
    await this.#gates.delete(String(this.#options.gate), { previousSeq: this.#revision })
      .catch(() => {});
  }

  #base(block: number): number {
    return this.#options.gate * CLIENTS_PER_GATE + block * ID_BLOCK;
  }

  async #casOrTaken(write: () => Promise<number>): Promise<number> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof JetStreamApiError && isWrongSequence(error)) {
        throw new GateNumberTakenError(
          this.#options.gate,
          `Gate number ${this.#options.gate} was claimed by another gate at the same time: ` +
            "give this gate another --gate-id",
        );
      }
      throw error;
    }
  }

  /**
   * Takes the next free block of this gate number (compare-and-set, retried on a race); `earlier`
   * says whether blocks were taken before.
   */
  async #takeBlock(): Promise<{ block: number; earlier: boolean }> {
    const ids = this.#ids!;
    const key = String(this.#options.gate);
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await ids.get(key);
      try {
        if (!entry || entry.operation !== "PUT") {
          await ids.create(key, "1");
          return { block: 0, earlier: false };
        }
        const stored = Number(entry.string());
        const block = Number.isSafeInteger(stored) && stored >= 0 ? stored % BLOCKS_PER_GATE : 0;
        await ids.update(key, String(block + 1), entry.revision);
        return { block, earlier: true };
      } catch (error) {
        if (!(error instanceof JetStreamApiError && isWrongSequence(error))) throw error;
      }
    }
    throw new Error(`Could not take a block of clientIds for gate ${this.#options.gate}`);
  }

  #prefetch(): void {
    if (this.#fetching) return;
    this.#fetching = true;
    this.#takeBlock().then(
      ({ block }) => this.#nextBlock = block,
      (error) => this.#options.log.error("clientId block not taken", { error }),
    ).finally(() => this.#fetching = false);
  }
}

/** Whether a JetStream error is a failed compare-and-set. */
function isWrongSequence(error: JetStreamApiError): boolean {
  return error.code === 10071 || error.code === 10164;
}

function parseClaim(text: string): ClaimValue | undefined {
  try {
    return JSON.parse(text) as ClaimValue;
  } catch {
    return undefined;
  }
}
