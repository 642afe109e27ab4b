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
 *   hears every event, each client's in the order its gate sent them. (A plain publish queued on the sender
 *   and flushed on reconnect would reach only the gates connected at that moment.)
 * - The events of one client keep their order even when one publish fails among acknowledged
 *   ones: at most one event of a client is in flight ({@linkcode nextBatch}). When the gate's NATS
 *   connection is replaced, the new stream object takes over what the old one had not got
 *   acknowledged, and its message-id counter (`resume`).
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
import { jserrors } from "@nats-io/jetstream/internal";
import type { Logger } from "../log.ts";
import { createShared } from "../shared_streams.ts";
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
   * The stream object of this gate's previous NATS connection, when it was replaced: the new one
   * reads on from one past the last message that one saw, sends what it had not got acknowledged
   * (in order, before anything newer) and goes on counting its message ids; else it reads from
   * now on.
   */
  resume?: ClientEventStream;
}

/** A queued message with its subject, message id and the client (or gate) it is about. */
export interface QueuedEvent {
  subject: string;
  text: string;
  msgId: string;
  /** Events with the same key keep their order: at most one of them is in flight at a time. */
  key: string;
}

/**
 * The indexes of the queued events the next batch publishes, in queue order: at most `most`, and
 * only the first queued event of each key, so that a key's later events wait until the earlier is
 * acknowledged — a publish that fails while a later one of the same client succeeds would store
 * them out of order (a retry lands after). Scans at most `4 × most` entries.
 *
 * @example
 * ```ts ignore
 * nextBatch([{ key: "7", … }, { key: "8", … }, { key: "7", … }], 256); // [0, 1]
 * ```
 */
export function nextBatch(queue: readonly { key: string }[], most: number): number[] {
  const picked: number[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < queue.length && picked.length < most && i < 4 * most; i++) {
    const key = queue[i].key;
    if (keys.has(key)) continue;
    keys.add(key);
    picked.push(i);
  }
  return picked;
}

/** Sends this gate's client events to the stream and hears the others'. */
export class ClientEventStream {
  #options: ClientEventStreamOptions;
  #js: JetStreamClient;
  #queue: QueuedEvent[] = [];
  #pumping = false;
  #messages?: ConsumerMessages;
  #closed = false;
  #bindings = 0;
  #lastSeq = 0;

  constructor(options: ClientEventStreamOptions) {
    this.#options = options;
    this.#js = jetstream(options.nc);
    const previous = options.resume;
    if (previous) {
      this.#lastSeq = previous.#lastSeq;
      this.#bindings = previous.#bindings;
      this.#queue = previous.#queue.splice(0);
    }
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
    await createShared(async () => {
      try {
        await jsm.streams.info(CLIENT_EVENTS_STREAM);
      } catch (error) {
        if (!(error instanceof jserrors.StreamNotFoundError)) throw error;
        await jsm.streams.add(config);
      }
    });
    const startSeq = this.#lastSeq > 0 ? this.#lastSeq + 1 : undefined;
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
    // What the previous connection's stream had not got acknowledged goes out first.
    if (this.#queue.length > 0) void this.#pump();
  }

  /** Queues an event of this gate's client; it is sent until acknowledged. */
  publish(event: ClientEvent): void {
    const id = `${this.#options.gate}-${event.clientId}`;
    this.#enqueue({
      subject: clientEventSubject(this.#options.gate, event.kind),
      text: JSON.stringify({ clientId: event.clientId, userId: event.userId }),
      msgId: event.kind === "leave" ? id : `${id}-${event.kind[0]}${++this.#bindings}`,
      key: String(event.clientId),
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
      key: `down-${down.gate}`,
    });
  }

  #enqueue(message: QueuedEvent): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift();
      this.#options.log.warn("client event dropped", { reason: "queue full", max: MAX_QUEUED });
    }
    this.#queue.push(message);
    this.#pump();
  }

  /**
   * Stops reading and sending; events still queued stay for the stream object that `resume`s
   * this one (else they are dropped).
   */
  close(): void {
    this.#closed = true;
    this.#messages?.stop();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = nextBatch(this.#queue, BATCH).map((i) => this.#queue[i]);
        const results = await Promise.allSettled(
          batch.map(({ subject, text, msgId }) =>
            this.#js.publish(subject, text, { msgID: msgId })
          ),
        );
        // The acknowledged leave the queue; a failed one keeps its place, before its key's later
        // events (none of which was sent meanwhile). A resumed object took the queue over.
        const sent = new Set(batch.filter((_, i) => results[i].status === "fulfilled"));
        if (sent.size > 0) this.#queue = this.#queue.filter((event) => !sent.has(event));
        const failed = batch.length - sent.size;
        if (failed > 0) {
          this.#options.log.warn("client events not acknowledged, retrying", {
            failed,
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
