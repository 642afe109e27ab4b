/**
 * CPU per request of each process of the cluster scenario, in alternated runs of its variants:
 * the bench's processes and flags (one nats-server, gates A and B with `--cluster`, echo on B over
 * tcp://, WebSocket clients on A, `bench/load/ws_load.ts --mode envelope`), each process's CPU
 * from `/proc/<pid>/stat` over the measured window. Steadier than throughput on a shared machine,
 * whose neighbours change the ratio more than the code does (bench/FINDINGS.md, findings 18, 19
 * and 21).
 *
 * The variants (`--variants`, comma-separated, in the order run): `ours` (this checkout's
 * cluster), `before` (the cluster of the checkout at `--before DIR`), `single` (one gate with the
 * echo service linked to it, the scenario's baseline), `played` (gate A and the played gate B of
 * `bench/played_gate.ts`, which answers the requests itself: the hop without gate B's work and its
 * service).
 *
 * ```sh
 * git archive 602cbda | tar -x -C /tmp/before
 * deno run --allow-all bench/cluster_pairs.ts --pairs 4 --before /tmp/before
 * deno run --allow-all bench/cluster_pairs.ts --pairs 3 --variants single,ours,played
 * ```
 *
 * Prints one line per run: variant, req/s, µs per request of each process, the servers' total,
 * the load generator, the interrupts, the cores in use, the cores other programs used meanwhile;
 * with `single` among the variants, each other run's throughput against the last single run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startClusterPair, startNatsServer, startPlayedPair } from "./lib/cluster.ts";
import { runEnvelopeLoad } from "./lib/load.ts";
import { type Peer, startOurs, UNLIMITED_RATE } from "./lib/servers.ts";
import type { BenchContext } from "./lib/types.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    pairs: { type: "string", default: "3" },
    before: { type: "string" },
    variants: { type: "string" },
    connections: { type: "string", default: "100" },
    warmup: { type: "string", default: "2" },
    duration: { type: "string", default: "6" },
  },
});
const pairs = Number(flags.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new TypeError("Flag --pairs must be 1 or more");
const connections = Number(flags.connections);
if (!Number.isInteger(connections) || connections < 1) {
  throw new TypeError("Flag --connections must be 1 or more");
}
const warmupS = Number(flags.warmup);
const durationS = Number(flags.duration);
const variants = (flags.variants ?? (flags.before ? "ours,before" : "ours")).split(",");
for (const variant of variants) {
  if (!["ours", "before", "single", "played"].includes(variant)) {
    throw new TypeError(`Flag --variants takes ours, before, single and played, not ${variant}`);
  }
}
if (variants.includes("before") && !flags.before) {
  throw new TypeError("Variant before needs --before DIR");
}

const temps: string[] = [];
const context = {
  quick: false,
  warmupS,
  durationS,
  rounds: 1,
  step: () => {},
  detail: () => {},
  note: () => {},
  baselineFailed: () => {},
  tempDir: async () => {
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_pairs_" });
    temps.push(dir);
    return dir;
  },
} satisfies BenchContext;

/** Starts a variant's processes; resolves with the URL its clients use. */
async function start(variant: string, natsUrl: string): Promise<Peer & { url: string }> {
  if (variant === "single") {
    const peer = await startOurs(context, { gateFlags: UNLIMITED_RATE, serviceTransport: "tcp" });
    return { ...peer, url: peer.wsUrl };
  }
  if (variant === "played") {
    const pair = await startPlayedPair(context, { natsUrl });
    return { ...pair, url: pair.a.wsUrl };
  }
  const rootDir = variant === "before" ? flags.before : undefined;
  const pair = await startClusterPair(context, { natsUrl, rootDir });
  return { ...pair, url: pair.a.wsUrl };
}

const nats = await startNatsServer();
let singleRate: number | undefined;
try {
  for (let i = 0; i < pairs; i++) {
    for (const variant of variants) {
      const peer = await start(variant, nats.url);
      try {
        const report = await runEnvelopeLoad({
          url: peer.url,
          connections,
          warmupS,
          durationS,
          pids: { ...peer.pids, ...nats.pids },
        });
        const rate = report.result.throughput;
        const micros = (role: string) => ((report.cpuCores[role] ?? 0) / rate) * 1e6;
        const servers = Object.keys(report.cpuCores)
          .filter((role) => !["load", "other", "irq"].includes(role));
        const total = servers.reduce((sum, role) => sum + micros(role), 0);
        const busy = Object.entries(report.cpuCores)
          .filter(([role]) => role !== "other")
          .reduce((sum, [, cores]) => sum + cores, 0);
        if (variant === "single") singleRate = rate;
        const ratio = variant !== "single" && singleRate
          ? `  ${(rate / singleRate).toFixed(2)}× single`
          : "";
        console.log(
          `${variant.padEnd(7)} ${String(rate).padStart(6)} req/s  ` +
            servers.map((role) => `${role} ${micros(role).toFixed(1)}`).join(" ") +
            `  total ${total.toFixed(1)}  load ${micros("load").toFixed(1)}  ` +
            `irq ${micros("irq").toFixed(1)}  busy ${busy.toFixed(2)} cores  ` +
            `other ${report.cpuCores.other} cores, errors ${report.result.errors}${ratio}`,
        );
      } finally {
        await peer.stop();
      }
    }
  }
} finally {
  await nats.stop();
  for (const dir of temps) await Deno.remove(dir, { recursive: true }).catch(() => {});
}
