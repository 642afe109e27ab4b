/**
 * Client events between gates — a client left (`ss_msg_client_leave`), a user was bound to a
 * client (`ss_msg_user_bind`) — on a JetStream stream (`gatehouse_client_events`, subjects
 * `gatehouse.ev.<gate>.<kind>`, file storage) rather than plain publishes, so that none is lost
 * while NATS is away:
 *
 * - The sending gate keeps each event in a local queue until JetStream acknowledged it, retrying
 *   after a failure (a NATS restart); a message id (`<gate>-<clientId>` for a leave,
 *   `<gate>-<clientId>-b<n>` for a bind) lets the stream drop a retry's duplicate.
 * - Each gate reads the stream with an ordered consumer, which resumes after the last message it
 *   saw when the connection comes back; so a gate that reconnects later than the sender still
 *   hears every event, in the order each gate sent them. (A plain publish queued on the sender
 *   and flushed on reconnect would reach only the gates connected at that moment.)
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
import { CLIENT_EVENT_KINDS, clientEventSubject, SUBJECT_PREFIX } from "./cluster_subjects.ts";

/** The stream's name. */
export const CLIENT_EVENTS_STREAM = "gatehouse_client_events";
/** Events kept this long (a gate away longer re-joins without them; its gate-down covers it). */
const KEEP_NS = 3600 * 1e9;
/** Most events in one batch of publishes. */
const BATCH = 256;
/** Wait after a failed publish before the next try. */
const RETRY_MS = 500;
/** Most events queued while NATS is away; past it the oldest are dropped, logged. */
const MAX_QUEUED = 100_000;

/** What happened to a client: it left, or a user was bound to it. */
export type ClientEventKind = (typeof CLIENT_EVENT_KINDS)[number];

/** One client event, as the gates send it to their services. */
export interface ClientEvent {
  kind: ClientEventKind;
  clientId: number;
  userId: number;
}

/** Options of {@linkcode ClientEventStream}. */
export interface ClientEventStreamOptions {
  nc: NatsConnection;
  gate: number;
  log: Logger;
  /** An event of another gate's client. */
  onEvent(event: ClientEvent): void;
}

/** A queued event with its message id. */
interface Queued {
  event: ClientEvent;
  msgId: string;
}

/** Sends this gate's client events to the stream and hears the others'. */
export class ClientEventStream {
  #options: ClientEventStreamOptions;
  #js: JetStreamClient;
  #queue: Queued[] = [];
  #pumping = false;
  #messages?: ConsumerMessages;
  #closed = false;
  #binds = 0;

  constructor(options: ClientEventStreamOptions) {
    this.#options = options;
    this.#js = jetstream(options.nc);
  }

  /** How many events wait for JetStream's acknowledgement. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Makes the stream when missing and starts reading from now on. */
  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.#options.nc);
    const config = {
      name: CLIENT_EVENTS_STREAM,
      subjects: [`${SUBJECT_PREFIX}.ev.>`],
      storage: StorageType.File,
      max_age: KEEP_NS,
      max_msgs: 1_000_000,
      duplicate_window: 120 * 1e9,
    };
    try {
      await jsm.streams.info(CLIENT_EVENTS_STREAM);
    } catch {
      await jsm.streams.add(config).catch(async (error) => {
        // Another gate made it meanwhile.
        await jsm.streams.info(CLIENT_EVENTS_STREAM).catch(() => {
          throw error;
        });
      });
    }
    const consumer = await this.#js.consumers.get(CLIENT_EVENTS_STREAM, {
      deliver_policy: DeliverPolicy.New,
    });
    const own = `${SUBJECT_PREFIX}.ev.${this.#options.gate}.`;
    this.#messages = await consumer.consume({
      callback: (msg) => {
        if (msg.subject.startsWith(own)) return;
        const kind = msg.subject.slice(msg.subject.lastIndexOf(".") + 1) as ClientEventKind;
        if (!CLIENT_EVENT_KINDS.includes(kind)) return;
        let data: { clientId?: unknown; userId?: unknown };
        try {
          data = msg.json();
        } catch {
          return;
        }
        const { clientId, userId } = data ?? {};
        if (
          typeof clientId === "number" && Number.isSafeInteger(clientId) &&
          typeof userId === "number" && Number.isSafeInteger(userId)
        ) {
          this.#options.onEvent({ kind, clientId, userId });
        }
      },
    });
  }

  /** Queues an event of this gate's client; it is sent until acknowledged. */
  publish(event: ClientEvent): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift();
      this.#options.log.warn("client event dropped", { reason: "queue full", max: MAX_QUEUED });
    }
    const id = `${this.#options.gate}-${event.clientId}`;
    this.#queue.push({ event, msgId: event.kind === "leave" ? id : `${id}-b${++this.#binds}` });
    this.#pump();
  }

  /** Stops reading; events still queued are dropped. */
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
          batch.map(({ event, msgId }) =>
            this.#js.publish(
              clientEventSubject(this.#options.gate, event.kind),
              JSON.stringify({ clientId: event.clientId, userId: event.userId }),
              { msgID: msgId },
            )
          ),
        );
        const failed = batch.filter((_, i) => results[i].status === "rejected");
        this.#queue.splice(0, batch.length, ...failed);
        if (failed.length > 0) {
          this.#options.log.warn("client events not acknowledged, retrying", {
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
