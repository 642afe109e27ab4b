/**
 * Client-leave events between gates, on a JetStream stream (`gatehouse_leaves`, subjects
 * `gatehouse.leave.<gate>`, file storage) rather than plain publishes, so that none is lost while
 * NATS is away:
 *
 * - The sending gate keeps each leave in a local queue until JetStream acknowledged it, retrying
 *   after a failure (a NATS restart); a message id (`<gate>-<clientId>`) lets the stream drop a
 *   retry's duplicate.
 * - Each gate reads the stream with an ordered consumer, which resumes after the last message it
 *   saw when the connection comes back; so a gate that reconnects later than the sender still
 *   hears every leave. (A plain publish queued on the sender and flushed on reconnect would reach
 *   only the gates connected at that moment.)
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import type { ConsumerMessages } from "@nats-io/jetstream";
import type { Logger } from "../log.ts";
import { leaveSubject, SUBJECT_PREFIX } from "./cluster_subjects.ts";

/** The stream's name. */
export const LEAVES_STREAM = "gatehouse_leaves";
/** Leaves kept this long (a gate away longer re-joins without them; its gate-down covers it). */
const KEEP_NS = 3600 * 1e9;
/** Most leaves in one batch of publishes. */
const BATCH = 256;
/** Wait after a failed publish before the next try. */
const RETRY_MS = 500;
/** Most leaves queued while NATS is away; past it the oldest are dropped, logged. */
const MAX_QUEUED = 100_000;

/** One client's leave. */
export interface Leave {
  clientId: number;
  userId: number;
}

/** Options of {@linkcode LeaveStream}. */
export interface LeaveStreamOptions {
  nc: NatsConnection;
  gate: number;
  log: Logger;
  /** A leave of another gate's client. */
  onLeave(leave: Leave): void;
}

/** Sends this gate's leaves to the stream and hears the others'. */
export class LeaveStream {
  #options: LeaveStreamOptions;
  #js: JetStreamClient;
  #queue: Leave[] = [];
  #pumping = false;
  #messages?: ConsumerMessages;
  #closed = false;

  constructor(options: LeaveStreamOptions) {
    this.#options = options;
    this.#js = jetstream(options.nc);
  }

  /** How many leaves wait for JetStream's acknowledgement. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Makes the stream when missing and starts reading from now on. */
  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.#options.nc);
    const config = {
      name: LEAVES_STREAM,
      subjects: [`${SUBJECT_PREFIX}.leave.>`],
      storage: StorageType.File,
      max_age: KEEP_NS,
      max_msgs: 1_000_000,
      duplicate_window: 120 * 1e9,
    };
    try {
      await jsm.streams.info(LEAVES_STREAM);
    } catch {
      await jsm.streams.add(config).catch(async (error) => {
        // Another gate made it meanwhile.
        await jsm.streams.info(LEAVES_STREAM).catch(() => {
          throw error;
        });
      });
    }
    const consumer = await this.#js.consumers.get(LEAVES_STREAM, {
      deliver_policy: DeliverPolicy.New,
    });
    this.#messages = await consumer.consume({
      callback: (msg) => {
        if (msg.subject === leaveSubject(this.#options.gate)) return;
        let leave: Leave;
        try {
          leave = msg.json<Leave>();
        } catch {
          return;
        }
        if (Number.isSafeInteger(leave.clientId) && Number.isSafeInteger(leave.userId)) {
          this.#options.onLeave(leave);
        }
      },
    });
  }

  /** Queues a leave of this gate's client; it is sent until acknowledged. */
  publish(leave: Leave): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift();
      this.#options.log.warn("leave dropped", { reason: "queue full", max: MAX_QUEUED });
    }
    this.#queue.push(leave);
    this.#pump();
  }

  /** Stops reading; leaves still queued are dropped. */
  close(): void {
    this.#closed = true;
    this.#messages?.stop();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#queue.slice(0, BATCH);
        const results = await Promise.allSettled(
          batch.map((leave) =>
            this.#js.publish(leaveSubject(this.#options.gate), JSON.stringify(leave), {
              msgID: `${this.#options.gate}-${leave.clientId}`,
            })
          ),
        );
        const failed = batch.filter((_, i) => results[i].status === "rejected");
        this.#queue.splice(0, batch.length, ...failed);
        if (failed.length > 0) {
          this.#options.log.warn("leaves not acknowledged, retrying", {
            failed: failed.length,
            queued: this.#queue.length,
          });
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    } finally {
      this.#pumping = false;
    }
  }
}
