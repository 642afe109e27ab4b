/**
 * CPU per request of each process of the cluster scenario, for two trees in alternated runs: the
 * bench's processes and flags (one nats-server, gates A and B with `--cluster`, echo on B over
 * tcp://, 100 WebSocket clients on A, `bench/load/ws_load.ts --mode envelope`), each process's
 * CPU from `/proc/<pid>/stat` over the measured window. Steadier than throughput on a shared
 * machine, whose neighbours change the ratio more than the code does (bench/FINDINGS.md,
 * findings 18 and 19).
 *
 * ```sh
 * git archive 602cbda | tar -x -C /tmp/before
 * deno run --allow-all bench/cluster_pairs.ts --pairs 4 --before /tmp/before
 * ```
 *
 * Prints one line per run: tree, req/s, µs per request of gate A, gate B, echo, nats-server,
 * their total, the load generator, and the cores other programs used meanwhile.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startClusterPair, startNatsServer } from "./lib/cluster.ts";
import { runLoad } from "./lib/load.ts";
import type { BenchContext } from "./lib/types.ts";

/** The server processes whose CPU is summed. */
const SERVERS = ["gateA", "gateB", "echo", "nats"];

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    pairs: { type: "string", default: "3" },
    before: { type: "string" },
    warmup: { type: "string", default: "2" },
    duration: { type: "string", default: "6" },
  },
});
const pairs = Number(flags.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new TypeError("Flag --pairs must be 1 or more");
const warmupS = Number(flags.warmup);
const durationS = Number(flags.duration);
/** The trees measured, alternated: this checkout, then `--before` when given. */
const trees: { name: string; rootDir?: string }[] = [{ name: "ours" }];
if (flags.before) trees.push({ name: "before", rootDir: flags.before });

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

const nats = await startNatsServer();
try {
  for (let i = 0; i < pairs; i++) {
    for (const tree of trees) {
      const pair = await startClusterPair(context, { natsUrl: nats.url, rootDir: tree.rootDir });
      try {
        const report = await runLoad(
          "ws",
          [
            "--url",
            pair.a.wsUrl,
            "--mode",
            "envelope",
            "--connections",
            "100",
            "--warmup",
            String(warmupS),
            "--duration",
            String(durationS),
          ],
          { ...pair.pids, ...nats.pids },
          (warmupS + durationS) * 1000 + 60_000,
        );
        const rate = report.result.throughput;
        const micros = (role: string) => ((report.cpuCores[role] ?? 0) / rate) * 1e6;
        const total = SERVERS.reduce((sum, role) => sum + micros(role), 0);
        console.log(
          `${tree.name.padEnd(7)} ${String(rate).padStart(6)} req/s  ` +
            SERVERS.map((role) => `${role} ${micros(role).toFixed(1)}`).join(" ") +
            `  total ${total.toFixed(1)}  load ${micros("load").toFixed(1)}  ` +
            `other ${report.cpuCores.other} cores, errors ${report.result.errors}`,
        );
      } finally {
        await pair.stop();
      }
    }
  }
} finally {
  await nats.stop();
  for (const dir of temps) await Deno.remove(dir, { recursive: true }).catch(() => {});
}
