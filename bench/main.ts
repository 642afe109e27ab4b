/**
 * `deno task bench`: runs each scenario of issue 7 with its baselines in the same run, prints a
 * progress line per step and a final table (ours, baseline, ratio, p50/p99, target met or
 * missed), and writes the same as JSON to `bench/results/<time>.json` and
 * `bench/results/latest.json`. Targets are reported, not asserted: the run exits 0 when every
 * scenario ran, 1 when one failed to run (ours failed to start, or a load run failed), 2 for bad
 * flags. A baseline that fails to start is retried once; when it fails again its rows say
 * "baseline failed to start", the run says so loudly at the end, and the exit code stays 0: the
 * bench is figures only, and someone else's server is not what CI checks.
 *
 * Usage: `deno task bench [--quick] [--only NAME,…] [--duration S] [--warmup S] [--rounds N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { nodeVersion } from "./lib/servers.ts";
import { BENCH_DIR, killTracked, openFileLimit, ROOT_DIR, runCommand } from "./lib/proc.ts";
import { formatTable } from "./lib/table.ts";
import type { BenchContext, Measurement, Row, Scenario } from "./lib/types.ts";
import { SCENARIOS } from "./scenarios/mod.ts";

const HELP = `Gatehouse benchmarks (issue 7): ours against real peers, side by side.

Usage: deno task bench [flags]

  --quick          a short run for CI (~2 min): fewer connections, smaller counts, shorter windows
  --only NAME      run only these scenarios (repeat or comma-separate): ${
  SCENARIOS.map((s) => s.name).join(", ")
}
  --duration S     seconds measured per load run (full 4, quick 3)
  --warmup S       seconds of warmup before each (full 2, quick 1)
  --rounds N       repeat each load run N times, ours and baselines alternating, and report
                   the median round (full 5, quick 1)
  --before COMMIT  also run that commit's gate (git archive into a temp folder) in the routed,
                   idle and cluster scenarios, beside ours: before/after rows in the same run
  --help           this text

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(10)} ${s.description}`).join("\n")}

Exit code: 0 when every scenario ran (targets are reported, not asserted; a baseline that failed
to start twice is reported, its rows say so), 1 when one of ours failed, 2 for bad flags.

Writes bench/results/<time>.json and bench/results/latest.json. Needs node and npm for the
Socket.IO and Pinus baselines (bench/package.json, installed into bench/node_modules on first use), and
nats-server for the cluster scenario (skipped without it).
`;

/** Notes that hold for every scenario. */
const GENERAL_NOTES = [
  "Each measurement runs ONE load-generator process (Deno for WebSocket and TCP, Node for " +
  "Socket.IO), the same count for ours and every baseline, on the same machine as the servers " +
  "(2 cores): ratios taken side by side in one run are what mean something, not the absolute " +
  "numbers.",
  "Every server is started fresh for each measurement, on loopback, on free ports; ours with the " +
  "commands of its deno.json tasks (gate:only, echo) and a temporary --data-dir.",
  "Rounds: each load run is repeated, ours and the baselines alternating, and the table shows " +
  "each one's median round, among the rounds in which other programs used at most 0.25 cores " +
  "when there is one (the machine may be shared). Progress lines and the JSON give the CPU " +
  "cores each process used in the measured window; 'other' is what other programs on the " +
  "machine used meanwhile (a high value means the numbers were disturbed), 'irq' the interrupt " +
  "time of loopback networking.",
  "Closed loop: each connection has one request outstanding; throughput counts responses " +
  "received in the measured window after the warmup; latency is per request, send to response.",
  "Socket.IO: socket.io and socket.io-client from npm (bench/package.json), WebSocket transport " +
  "only (no long-polling first), no compression, forceNew per client; the raw baseline is " +
  "Deno.serve + upgradeWebSocket echoing each message (bench/baselines/raw_ws_echo.ts).",
  "Pinus: pinus 1.7.4 from npm (bench/package.json), a master, one connector (hybridconnector, " +
  "no dictionary, no protobuf, heartbeat 30 s) and one echo backend, three Node processes " +
  "(bench/baselines/pinus_server.mjs); a request goes client → connector → echo backend over " +
  "Pinus's RPC → connector → client, the same two hops as ours; the Node load generator speaks " +
  "its protocol over the ws package or plain TCP (bench/load/pinus_load.mjs).",
];

interface Flags {
  quick: boolean;
  only: string[];
  durationS?: number;
  warmupS?: number;
  rounds?: number;
  before?: string;
}

function parseFlags(args: string[]): Flags | "help" {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string", multiple: true },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      before: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  const only = (values.only ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(
    Boolean,
  );
  for (const name of only) {
    if (!SCENARIOS.some((s) => s.name === name)) {
      throw new TypeError(
        `Unknown scenario ${JSON.stringify(name)}; known: ${
          SCENARIOS.map((s) => s.name).join(", ")
        }`,
      );
    }
  }
  const seconds = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0 || n > 600) {
      throw new TypeError(
        `Flag --${name} must be a number of seconds from 0 to 600`,
      );
    }
    return n;
  };
  return {
    quick: values.quick ?? false,
    only,
    durationS: seconds("duration", values.duration),
    warmupS: seconds("warmup", values.warmup),
    rounds: values.rounds === undefined ? undefined : roundsFlag(values.rounds),
    before: values.before,
  };
}

/** Extracts `commit`'s tree into `dir` (git archive), for `--before`. */
async function extractCommit(
  commit: string,
  dir: string,
): Promise<{ commit: string; rootDir: string }> {
  if (!/^[0-9A-Za-z._\/-]{1,100}$/.test(commit)) {
    throw new TypeError(`Flag --before takes a commit, not ${JSON.stringify(commit)}`);
  }
  const archive = await new Deno.Command("git", {
    args: ["archive", "--format=tar", commit],
    cwd: ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!archive.success) {
    throw new TypeError(
      `Flag --before: git archive ${commit} failed: ${new TextDecoder().decode(archive.stderr)}`,
    );
  }
  const tar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  const writer = tar.stdin.getWriter();
  await writer.write(archive.stdout);
  await writer.close();
  if (!(await tar.status).success) throw new Error(`Could not extract ${commit} into ${dir}`);
  return { commit, rootDir: dir };
}

function roundsFlag(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > 20) {
    throw new TypeError("Flag --rounds must be an integer from 1 to 20");
  }
  return n;
}

/** The JSON written to bench/results/. */
interface Results {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  settings: {
    warmupS: number;
    durationS: number;
    rounds: number;
    loadGeneratorProcesses: number;
  };
  machine: Record<string, unknown>;
  rows: Row[];
  /** The table as printed. */
  table: string;
  notes: string[];
  /** Baselines that failed to start twice: their rows say so; the exit code is not changed. */
  baselineFailures: Array<{ scenario: string; baseline: string; error: string }>;
  scenarios: Array<{
    name: string;
    seconds: number;
    measurements: Measurement[];
    error?: string;
  }>;
}

async function gitCommit(): Promise<string> {
  try {
    const head = (await runCommand("git", ["rev-parse", "--short", "HEAD"]))
      .output.trim();
    const dirty = (await runCommand("git", ["status", "--porcelain"])).output.trim() !== "";
    return dirty ? `${head}+uncommitted` : head;
  } catch {
    return "unknown";
  }
}

async function writeResults(results: Results): Promise<string> {
  const dir = `${BENCH_DIR}/results`;
  await Deno.mkdir(dir, { recursive: true });
  // An ISO 8601 time with '-' for ':' so that the name is valid on every file system.
  const stamp = results.startedAt.replace(/\.\d+Z$/, "Z").replaceAll(":", "-");
  const text = JSON.stringify(results, null, 2) + "\n";
  const path = `${dir}/${stamp}.json`;
  for (const target of [path, `${dir}/latest.json`]) {
    await Deno.writeTextFile(`${target}.tmp`, text);
    await Deno.rename(`${target}.tmp`, target);
  }
  return path;
}

/** Runs the selected scenarios; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let flags: Flags | "help";
  try {
    flags = parseFlags(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (flags === "help") {
    console.log(HELP);
    return 0;
  }
  const quick = flags.quick;
  const warmupS = flags.warmupS ?? (quick ? 1 : 2);
  const durationS = flags.durationS ?? (quick ? 3 : 4);
  const rounds = flags.rounds ?? (quick ? 1 : 5);
  const selected: Scenario[] = flags.only.length
    ? SCENARIOS.filter((s) => flags.only.includes(s.name))
    : [...SCENARIOS];

  const startedAt = new Date();
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const notes: string[] = [...GENERAL_NOTES];
  const tempDirs: string[] = [];
  let stepNumber = 0;
  let current = "";
  const baselineFailures: Results["baselineFailures"] = [];
  const context: BenchContext = {
    quick,
    warmupS,
    durationS,
    rounds,
    step(message) {
      stepNumber++;
      console.log(
        `[bench] step ${stepNumber} ${current}: ${message} [${elapsed()}]`,
      );
    },
    detail(message) {
      console.log(`[bench]   ${message}`);
    },
    note(text) {
      if (!notes.includes(text)) notes.push(text);
    },
    async tempDir() {
      const dir = await Deno.makeTempDir({ prefix: "gatehouse_bench_" });
      tempDirs.push(dir);
      return dir;
    },
    baselineFailed(label, error) {
      baselineFailures.push({ scenario: current, baseline: label, error });
      console.log(
        `[bench] BASELINE FAILED TO START (twice): ${label}; its rows say so, the scenario goes ` +
          `on with ours:\n${error.split("\n").map((line) => `    | ${line}`).join("\n")}`,
      );
    },
  };

  if (flags.before !== undefined) {
    context.before = await extractCommit(flags.before, await context.tempDir());
  }

  const interrupted = () => {
    console.log("[bench] interrupted: stopping the processes it started");
    killTracked();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  Deno.addSignalListener("SIGTERM", interrupted);

  const machine = {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    node: await nodeVersion(),
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    cpus: navigator.hardwareConcurrency,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    openFileLimit: openFileLimit().soft,
    commit: await gitCommit(),
  };
  console.log(
    `[bench] ${quick ? "quick" : "full"} run of ${selected.map((s) => s.name).join(", ")}: ` +
      `${rounds} round(s) of ${warmupS} s warmup + ${durationS} s per load run; deno ${machine.deno}, node ` +
      `${machine.node}, ${machine.cpus} cpus, commit ${machine.commit}`,
  );

  const rows: Row[] = [];
  const scenarios: Results["scenarios"] = [];
  let failed = 0;
  for (const scenario of selected) {
    current = scenario.name;
    const began = performance.now();
    console.log(`[bench] scenario ${scenario.name}: ${scenario.description}`);
    try {
      const result = await scenario.run(context);
      rows.push(...result.rows);
      scenarios.push({
        name: scenario.name,
        seconds: Math.round((performance.now() - began) / 100) / 10,
        measurements: result.measurements,
      });
    } catch (error) {
      failed++;
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      console.log(
        `[bench] scenario ${scenario.name} FAILED to run: ${message}`,
      );
      scenarios.push({
        name: scenario.name,
        seconds: Math.round((performance.now() - began) / 100) / 10,
        measurements: [],
        error: message,
      });
      killTracked();
    }
  }

  for (const dir of tempDirs) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const table = formatTable(rows);
  const met = rows.filter((r) => r.met === true).length;
  const missed = rows.filter((r) => r.met === false).length;
  const notJudged = rows.filter((r) => r.target && r.met === undefined && r.baselineFailed).length;
  console.log(`\n${table}\n`);
  console.log(
    `Targets: ${met} met, ${missed} missed${
      notJudged ? `, ${notJudged} not judged (baseline failed to start)` : ""
    } (reported, not asserted).`,
  );
  if (failed) {
    console.log(`Scenarios that failed to run: ${failed} (see above).`);
  }
  if (baselineFailures.length) {
    console.log(
      `BASELINES THAT FAILED TO START (twice, see above; their rows say so, the exit code is ` +
        `not changed): ${baselineFailures.map((f) => `${f.baseline} (${f.scenario})`).join(", ")}.`,
    );
  }
  console.log("Notes:");
  for (const note of notes) console.log(`- ${note}`);

  const results: Results = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick,
    settings: { warmupS, durationS, rounds, loadGeneratorProcesses: 1 },
    machine,
    rows,
    table,
    notes,
    baselineFailures,
    scenarios,
  };
  const path = await writeResults(results);
  console.log(
    `\n[bench] wrote ${path.slice(ROOT_DIR.length + 1)} and bench/results/latest.json ` +
      `[${elapsed()}]`,
  );
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
