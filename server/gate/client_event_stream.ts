/**
 * Client events between gates — a client left (`ss_msg_client_leave`), a user was bound to a
 * client (`ss_msg_user_bind`) or unbound from it (`ss_msg_user_unbind`) — on a JetStream stream
 * (`gatehouse_client_events`, subjects `gatehouse.ev.<gate>.<kind>`, file storage) rather than
 * plain publishes, so that none is lost while NATS is away. The same stream carries "gate G
 * (epoch E) was declared down" (`gatehouse.ev.<G>.down`), which gate G reads when it is back
 * (cluster_router.ts):
 *
 * - The sending gate keeps each event in a local queue until JetStream acknowledged it, retrying
 *   after a failure (a NATS restart); a message id (`<gate>-<clientId>` for a leave,
 *   `<gate>-<clientId>-b<n>` for a bind, `-u<n>` for an unbind) lets the stream drop a retry's
 *   duplicate.
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
import {
  CLIENT_EVENT_KINDS,
  clientEventSubject,
  declaredDownSubject,
  SUBJECT_PREFIX,
} from "./cluster_subjects.ts";

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

/** What happened to a client: it left, or a user was bound to it or unbound from it. */
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
  /** Another gate declared this one down while its run was `epoch`. */
  onDeclaredDown?(epoch: number): void;
  /**
   * The stream sequence to read from (one past the last message an earlier stream object of
   * this gate saw, when its NATS connection was replaced); else from now on.
   */
  startSeq?: number;
}

/** A queued message with its subject and message id. */
interface Queued {
  subject: string;
  text: string;
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
  #bindings = 0;
  #lastSeq = 0;

  constructor(options: ClientEventStreamOptions) {
    this.#options = options;
    this.#js = jetstream(options.nc);
  }

  /** How many events wait for JetStream's acknowledgement. */
  get queued(): number {
    return this.#queue.length;
  }

  /** The stream sequence of the last message read (0 when none). */
  get lastSeq(): number {
    return this.#lastSeq;
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
    const startSeq = this.#options.startSeq;
    const consumer = await this.#js.consumers.get(
      CLIENT_EVENTS_STREAM,
      startSeq
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }
        : { deliver_policy: DeliverPolicy.New },
    );
    const own = `${SUBJECT_PREFIX}.ev.${this.#options.gate}.`;
    const ownDown = declaredDownSubject(this.#options.gate);
    this.#messages = await consumer.consume({
      callback: (msg) => {
        this.#lastSeq = msg.seq;
        if (msg.subject === ownDown) {
          const epoch = readEpoch(msg.string());
          if (epoch !== undefined) this.#options.onDeclaredDown?.(epoch);
          return;
        }
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
    const id = `${this.#options.gate}-${event.clientId}`;
    this.#enqueue({
      subject: clientEventSubject(this.#options.gate, event.kind),
      text: JSON.stringify({ clientId: event.clientId, userId: event.userId }),
      msgId: event.kind === "leave" ? id : `${id}-${event.kind[0]}${++this.#bindings}`,
    });
  }

  /**
   * Queues "gate `gate` was declared down while its run was `epoch`" for that gate to read when
   * it is back (every gate that declares it sends the same message id: the stream keeps one).
   */
  declareDown(down: { gate: number; epoch: number }): void {
    this.#enqueue({
      subject: declaredDownSubject(down.gate),
      text: JSON.stringify({ epoch: down.epoch }),
      msgId: `down-${down.gate}-${down.epoch}`,
    });
  }

  #enqueue(message: Queued): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift();
      this.#options.log.warn("client event dropped", { reason: "queue full", max: MAX_QUEUED });
    }
    this.#queue.push(message);
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
          batch.map(({ subject, text, msgId }) =>
            this.#js.publish(subject, text, { msgID: msgId })
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

/** The epoch of a "declared down" message; undefined when it is not one. */
function readEpoch(text: string): number | undefined {
  try {
    const epoch = (JSON.parse(text) as { epoch?: unknown })?.epoch;
    return typeof epoch === "number" && Number.isSafeInteger(epoch) ? epoch : undefined;
  } catch {
    return undefined;
  }
}
