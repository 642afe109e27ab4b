/**
 * The commands any gate of the cluster has ever served, in the KV bucket `gatehouse_commands`,
 * so that a gate started after the last instance of a command went away still answers
 * `SERVER_OFF` (a retryable outage) rather than `UNDEFINED_CMD` (a permanent error).
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { type KV, Kvm } from "@nats-io/kv";
import type { Logger } from "../log.ts";
import { createShared } from "../shared_streams.ts";

/** The bucket's name. */
export const COMMANDS_BUCKET = "gatehouse_commands";

/** A command as a KV key (keys allow fewer characters than command names). */
function key(cmd: string): string {
  return "c" + Array.from(new TextEncoder().encode(cmd), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** The command a key names, or undefined for a key that is not one. */
function command(k: string): string | undefined {
  if (!/^c([0-9a-f]{2})+$/.test(k)) return undefined;
  const bytes = new Uint8Array((k.length - 1) / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(k.slice(1 + 2 * i, 3 + 2 * i), 16);
  return new TextDecoder().decode(bytes);
}

/** The cluster's record of commands ever served. */
export class KnownCommands {
  #kv?: KV;
  #log: Logger;
  #recorded = new Set<string>();

  constructor(options: { log: Logger }) {
    this.#log = options.log;
  }

  /** Opens the bucket and returns every command recorded so far. */
  async open(nc: NatsConnection): Promise<string[]> {
    this.#kv = await createShared(() => new Kvm(nc).create(COMMANDS_BUCKET, { history: 1 }));
    const known: string[] = [];
    for await (const k of await this.#kv.keys()) {
      const cmd = command(k);
      if (cmd !== undefined) {
        known.push(cmd);
        this.#recorded.add(cmd);
      }
    }
    return known;
  }

  /** Records commands this gate serves (once each; failures are logged, not fatal). */
  record(cmds: Iterable<string>): void {
    const kv = this.#kv;
    if (!kv) return;
    for (const cmd of cmds) {
      if (this.#recorded.has(cmd)) continue;
      this.#recorded.add(cmd);
      kv.put(key(cmd), "").catch((error) => {
        this.#recorded.delete(cmd);
        this.#log.warn("command not recorded", { cmd, error });
      });
    }
  }
}
