/**
 * The cluster's key directory (route by key, shared/key_routes.ts) in the NATS KV bucket
 * `gatehouse_keys`: which gate's link owns each claimed key, and whom to tell when the key is
 * lost. Every gate keeps a copy of the whole bucket by watching it, so routing a keyed request
 * reads memory; a key not in the copy yet (claimed a moment ago on another gate) is read from the
 * bucket itself.
 *
 * - A claim is a create-only write: of two gates claiming one key at once, exactly one succeeds.
 * - Writes of one key go out one after the other in the order they were asked (a release and a
 *   claim again of one id cannot overtake each other); notify-list changes are coalesced, only
 *   the latest list being written.
 * - A key whose gate or link is gone is deleted against the revision read (`previousSeq`), so
 *   that of the gates that find it at once exactly one wins and tells its clientIds.
 *
 * An entry's value: `{gate, epoch, link, notify?: {cmd, data, clientIds}}`, `epoch` the owning
 * gate's run and `link` the owning link's clientId: an entry of a run the gate no longer runs is
 * lost. A KV key is `<space>.<key>`, each as base64url.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import type { Logger } from "../log.ts";
import { createShared } from "../shared_streams.ts";

/** The bucket's name. */
export const KEYS_BUCKET = "gatehouse_keys";

/** What the bucket holds for one key. */
export interface KeyValue {
  gate: number;
  /** The owning gate's run (its epoch) when it wrote the entry. */
  epoch: number;
  /** The owning link's clientId. */
  link: number;
  notify?: { cmd: string; data: unknown; clientIds: number[] };
}

/** One key as this gate last heard of it. */
export interface KeyEntry extends KeyValue {
  space: string;
  key: string;
  /** The KV key. */
  kvKey: string;
  /** The revision read, for a delete against it. */
  revision: number;
  /** Set once this gate tries to delete it as lost. */
  losing?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function base64url(text: string): string {
  let binary = "";
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(token: string): string {
  const binary = atob(token.replace(/-/g, "+").replace(/_/g, "/"));
  return decoder.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** The KV key of a key in a space. */
export function kvKeyOf(space: string, key: string): string {
  return `${base64url(space)}.${base64url(key)}`;
}

/** Reads a KV entry; undefined when it is a delete or not ours. */
function readEntry(entry: KvEntry): KeyEntry | undefined {
  if (entry.operation !== "PUT") return undefined;
  try {
    const [space, key] = entry.key.split(".").map(fromBase64url);
    const value = entry.json<KeyValue>();
    if (
      !Number.isSafeInteger(value?.gate) || !Number.isSafeInteger(value?.link) ||
      !Number.isSafeInteger(value?.epoch) || key === undefined
    ) {
      return undefined;
    }
    return { ...value, space, key, kvKey: entry.key, revision: entry.revision };
  } catch {
    return undefined;
  }
}

/** Whether a KV error says the key exists (a create refused) or the revision moved on. */
function isWrongRevision(error: unknown): boolean {
  const text = String((error as Error)?.message ?? error);
  return /wrong last sequence|key exists|10071/i.test(text);
}

/** This gate's view of the cluster's key directory. */
export class ClusterKeys {
  #log: Logger;
  #kv?: KV;
  #entries = new Map<string, KeyEntry>();
  #chains = new Map<string, Promise<unknown>>();
  #pendingValue = new Map<string, KeyValue>();
  #stopWatch?: () => void;

  constructor(options: { log: Logger }) {
    this.#log = options.log;
  }

  /** How many keys this gate knows of. */
  get size(): number {
    return this.#entries.size;
  }

  /** Opens the bucket on a (new) connection and watches it from scratch. */
  async open(nc: NatsConnection): Promise<void> {
    this.#stopWatch?.();
    const kv = await createShared(() => new Kvm(nc).create(KEYS_BUCKET, { history: 1 }));
    this.#kv = kv;
    const watch = await kv.watch();
    this.#stopWatch = () => watch.stop();
    // The watch delivers every key again: forget what was heard before (deletes may be missed
    // while away); a key asked for meanwhile is read from the bucket.
    this.#entries.clear();
    (async () => {
      for await (const entry of watch) this.#heard(entry);
    })().catch((error) => this.#log.warn("key directory watch ended", { error }));
  }

  /** Stops watching. */
  close(): void {
    this.#stopWatch?.();
  }

  /** The entry of a key as heard, or undefined. */
  cached(space: string, key: string): KeyEntry | undefined {
    return this.#entries.get(kvKeyOf(space, key));
  }

  /** Reads a key from the bucket itself (for one not heard of yet); undefined when none. */
  async fetch(space: string, key: string): Promise<KeyEntry | undefined> {
    const kv = this.#kv;
    if (!kv) return undefined;
    const entry = await kv.get(kvKeyOf(space, key));
    const read = entry ? readEntry(entry) : undefined;
    if (read) this.#keep(read);
    return read;
  }

  /** Every key heard of. */
  entries(): IterableIterator<KeyEntry> {
    return this.#entries.values();
  }

  /**
   * Claims a key (a create-only write); resolves true when this gate's link got it, false when
   * the key exists. Rejects when the bucket cannot be reached.
   */
  claim(options: { space: string; key: string; value: KeyValue }): Promise<boolean> {
    const kvKey = kvKeyOf(options.space, options.key);
    return this.#queue(kvKey, async () => {
      const kv = this.#kv;
      if (!kv) throw new Error("The key directory is not open");
      try {
        const revision = await kv.create(kvKey, JSON.stringify(options.value));
        this.#keep({ ...options.value, space: options.space, key: options.key, kvKey, revision });
        return true;
      } catch (error) {
        if (isWrongRevision(error)) return false;
        throw error;
      }
    });
  }

  /**
   * Claims again, for a new run of this gate, a key its link holds: its entry is rewritten with
   * `value` (the new epoch) unless another link holds it now, and created when it was deleted
   * meanwhile. Resolves false when another link holds it.
   */
  reclaim(options: { space: string; key: string; value: KeyValue }): Promise<boolean> {
    const kvKey = kvKeyOf(options.space, options.key);
    return this.#queue(kvKey, async () => {
      const kv = this.#kv;
      if (!kv) throw new Error("The key directory is not open");
      const text = JSON.stringify(options.value);
      for (let tries = 0; tries < 3; tries++) {
        const entry = await kv.get(kvKey);
        const read = entry ? readEntry(entry) : undefined;
        try {
          if (!read) await kv.create(kvKey, text);
          else if (read.gate === options.value.gate && read.link === options.value.link) {
            await kv.update(kvKey, text, read.revision);
          } else return false;
          return true;
        } catch (error) {
          if (!isWrongRevision(error)) throw error;
        }
      }
      return false;
    });
  }

  /** Writes a key's new value (its notify list) after the writes before it; coalesced. */
  write(options: { space: string; key: string; value: KeyValue }): void {
    const kvKey = kvKeyOf(options.space, options.key);
    const queued = this.#pendingValue.has(kvKey);
    this.#pendingValue.set(kvKey, options.value);
    if (queued) return;
    this.#queue(kvKey, async () => {
      const value = this.#pendingValue.get(kvKey);
      this.#pendingValue.delete(kvKey);
      if (!value || !this.#kv) return;
      await this.#kv.put(kvKey, JSON.stringify(value));
    }).catch((error) => this.#log.warn("key not written", { key: options.key, error }));
  }

  /** Deletes a key this gate's link released (after the writes before it). */
  remove(space: string, key: string): void {
    const kvKey = kvKeyOf(space, key);
    this.#pendingValue.delete(kvKey);
    this.#entries.delete(kvKey);
    this.#queue(kvKey, async () => {
      await this.#kv?.delete(kvKey);
    }).catch((error) => this.#log.warn("key not deleted", { key, error }));
  }

  /**
   * Deletes a key found lost (its gate or link gone) against the revision heard; resolves true
   * when this gate's delete won, so that this gate tells its clientIds.
   */
  lose(entry: KeyEntry): Promise<boolean> {
    if (entry.losing) return Promise.resolve(false);
    entry.losing = true;
    return this.#queue(entry.kvKey, async () => {
      const kv = this.#kv;
      if (!kv) return false;
      try {
        await kv.delete(entry.kvKey, { previousSeq: entry.revision });
      } catch (error) {
        if (isWrongRevision(error)) return false;
        entry.losing = false;
        throw error;
      }
      if (this.#entries.get(entry.kvKey) === entry) this.#entries.delete(entry.kvKey);
      return true;
    });
  }

  #heard(entry: KvEntry): void {
    const read = readEntry(entry);
    if (read) this.#keep(read);
    else if (entry.operation !== "PUT") this.#entries.delete(entry.key);
  }

  /** Keeps an entry unless a later revision of it is kept already. */
  #keep(entry: KeyEntry): void {
    const known = this.#entries.get(entry.kvKey);
    if (known && known.revision >= entry.revision) return;
    this.#entries.set(entry.kvKey, entry);
  }

  /** Runs `task` after every task queued before it for the same KV key. */
  #queue<T>(kvKey: string, task: () => Promise<T>): Promise<T> {
    const before = this.#chains.get(kvKey) ?? Promise.resolve();
    const run = before.then(task, task);
    const settled = run.catch(() => {});
    this.#chains.set(kvKey, settled);
    settled.then(() => {
      if (this.#chains.get(kvKey) === settled) this.#chains.delete(kvKey);
    });
    return run;
  }
}
