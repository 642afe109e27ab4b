/**
 * Creating the JetStream streams and KV buckets that every instance of a cluster shares, when
 * several instances start at once (DESIGN.md, "Cluster mode").
 *
 * `Kvm.create` and `jsm.streams.add` look the stream up and add it when it is missing; two
 * instances doing that at the same moment can both miss it, and nats-server then refuses the
 * later add with "subjects overlap with an existing stream" (10065) or "stream name already in
 * use" (10058) while the earlier one is still being made. Measured on nats-server 2.10 with four
 * connections creating the same bucket at once: 2 refusals in 800 creates. Running the create
 * again finds the stream made.
 *
 * @example
 * ```ts ignore
 * const kv = await createShared(() => new Kvm(nc).create("gatehouse_gates", { history: 1 }));
 * ```
 * @module
 */

import { JetStreamApiError } from "@nats-io/jetstream";

/** The JetStream error codes of a twin creation under way. */
const RACE_CODES: ReadonlySet<number> = new Set([10058, 10065]);

/** How often a create is run before its refusal is thrown. */
const ATTEMPTS = 5;

/** Whether `error` is nats-server refusing a create because another one is under way. */
export function isCreationRace(error: unknown): boolean {
  return error instanceof JetStreamApiError && RACE_CODES.has(error.code);
}

/**
 * Runs `make` (a create that finds an existing stream or bucket and uses it), again after a
 * short wait when nats-server refuses it because another instance is creating the same stream,
 * up to 5 times. Any other error is thrown at once.
 *
 * @example
 * ```ts ignore
 * const kv = await createShared(() => new Kvm(nc).create("gatehouse_keys", { history: 1 }));
 * ```
 */
export async function createShared<T>(make: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await make();
    } catch (error) {
      if (attempt >= ATTEMPTS || !isCreationRace(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 30));
    }
  }
}
