/**
 * Idle connections: N clients held open (10,000; `--quick` 1,000), and the server's resident
 * memory per connection: VmRSS of the server process after the clients are connected and a
 * settle, minus VmRSS before, over N. Each server is started fresh for each reading, and the
 * readings are repeated `--rounds` times (the order alternating), the median reported.
 *
 * Peers: ours is the gate alone, over WebSocket and over framed TCP; the baselines are the raw
 * Deno WebSocket echo server and Pinus (issue 18) over WebSocket and over plain TCP (its
 * hybridconnector serves both on one port; the reading is its connector process, which holds
 * every client connection).
 *
 * Target (issue 7): ours over WebSocket ≤ 1.3× the raw server's bytes per connection. The Pinus
 * rows have no target.
 *
 * @module
 */

import { BaselineStartError, startBaseline } from "../lib/baseline.ts";
import { type Generator, spawnGenerator } from "../lib/load.ts";
import { openFileLimit, rssBytes, sleep } from "../lib/proc.ts";
import { startOurs, startPinus, startRawEcho } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

const FULL_CONNECTIONS = 10_000;
const QUICK_CONNECTIONS = 1_000;
/** File descriptors a process needs beyond its sockets. */
const SPARE_FDS = 200;
/**
 * How long the server is left alone before each memory reading; `--quick` (CI, 1,000 clients)
 * halves it to stay near two minutes with Pinus's two readings.
 */
const FULL_SETTLE_MS = 3000;
const QUICK_SETTLE_MS = 1500;
/** Each reading opens N connections on a fresh server (~15 s for 10,000): at most this many rounds. */
const MAX_ROUNDS = 5;

interface Held {
  /** Resident bytes before and after the clients connected. */
  before: number;
  after: number;
  perConnection: number;
  connections: number;
  openMs: number;
}

/** A started server to read: where its clients go, and the process that holds them. */
interface Target {
  url: string;
  pid: number;
  /** The generator and its flags besides --url and --connections. */
  generator: Generator;
  flags: string[];
  connections(): Promise<number>;
  stop(): Promise<void>;
}

/** One peer of the scenario. */
interface IdlePeer {
  key: string;
  label: string;
  /** Someone else's server: retried once if it fails to start, then left out (lib/baseline.ts). */
  baseline?: boolean;
  start(context: BenchContext, count: number): Promise<Target>;
}

/** The gate's flags for an idle reading: no idle close during it, room for every client. */
function gateFlags(count: number): string[] {
  return ["--heartbeat-ms", "600000", "--max-connections", String(count + 1000)];
}

/** The gate of the commit given with `--before`, over WebSocket (only with `--before`). */
const BEFORE_PEER: IdlePeer = {
  key: "before-ws",
  label: "the gate before (--before) over WebSocket",
  start: async (context, count) => {
    const before = await startOurs(context, {
      echo: false,
      rootDir: context.before!.rootDir,
      gateFlags: gateFlags(count),
    });
    return {
      url: before.wsUrl,
      pid: before.pids.gate,
      generator: "ws",
      flags: ["--mode", "idle", "--hello", "gate"],
      connections: before.connections,
      stop: before.stop,
    };
  },
};

const PEERS: IdlePeer[] = [
  {
    key: "raw",
    label: "raw Deno WebSocket echo server",
    baseline: true,
    start: async () => {
      const raw = await startRawEcho();
      return {
        url: raw.wsUrl,
        pid: raw.pids.server,
        generator: "ws",
        flags: ["--mode", "idle", "--hello", "echo"],
        connections: raw.connections,
        stop: raw.stop,
      };
    },
  },
  {
    key: "ours-ws",
    label: "our gate over WebSocket",
    start: async (context, count) => {
      const ours = await startOurs(context, { echo: false, gateFlags: gateFlags(count) });
      return {
        url: ours.wsUrl,
        pid: ours.pids.gate,
        generator: "ws",
        flags: ["--mode", "idle", "--hello", "gate"],
        connections: ours.connections,
        stop: ours.stop,
      };
    },
  },
  {
    key: "ours-tcp",
    label: "our gate over framed TCP",
    start: async (context, count) => {
      const ours = await startOurs(context, { echo: false, gateFlags: gateFlags(count) });
      return {
        url: ours.tcpUrl,
        pid: ours.pids.gate,
        generator: "tcp",
        flags: ["--mode", "idle"],
        connections: ours.connections,
        stop: ours.stop,
      };
    },
  },
  {
    key: "pinus-ws",
    label: "Pinus connector over WebSocket",
    baseline: true,
    start: async (context) => {
      const pinus = await startPinus(context);
      return {
        url: pinus.wsUrl,
        pid: pinus.pids.connector,
        generator: "pinus",
        flags: ["--mode", "idle"],
        connections: pinus.connections,
        stop: pinus.stop,
      };
    },
  },
  {
    key: "pinus-tcp",
    label: "Pinus connector over TCP",
    baseline: true,
    start: async (context) => {
      const pinus = await startPinus(context);
      return {
        url: pinus.tcpUrl,
        pid: pinus.pids.connector,
        generator: "pinus",
        flags: ["--mode", "idle"],
        connections: pinus.connections,
        stop: pinus.stop,
      };
    },
  },
];

/** Connects `count` idle clients to a started server and reads its memory around it. */
async function hold(target: Target, count: number, settleMs: number): Promise<Held> {
  await sleep(settleMs);
  const before = rssBytes(target.pid);
  const load = spawnGenerator(target.generator, [
    "--url",
    target.url,
    "--connections",
    String(count),
    ...target.flags,
  ]);
  try {
    const [, json] = await load.waitForLine(/^READY (.*)$/, 180_000);
    const ready = JSON.parse(json) as { connections: number; openMs: number };
    await sleep(settleMs);
    const after = rssBytes(target.pid);
    const held = await target.connections();
    if (held < count) {
      throw new Error(
        `The server holds ${held} connections, not the ${count} opened`,
      );
    }
    return {
      before,
      after,
      perConnection: Math.round((after - before) / count),
      connections: held,
      openMs: ready.openMs,
    };
  } finally {
    await load.stop();
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Starts a peer; a baseline through {@linkcode startBaseline} (retried once). */
function startPeer(context: BenchContext, peer: IdlePeer, count: number): Promise<Target> {
  const start = () => peer.start(context, count);
  return peer.baseline ? startBaseline(context, { label: peer.label, start }) : start();
}

/** The median reading of a peer by bytes per connection. */
function median(readings: Held[]): Held {
  const sorted = [...readings].sort((a, b) => a.perConnection - b.perConnection);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The idle-connections scenario. */
export const idle: Scenario = {
  name: "idle",
  description:
    "idle connections: memory per connection held by the gate (WebSocket, TCP) and Pinus",
  async run(context: BenchContext): Promise<ScenarioResult> {
    let count = context.quick ? QUICK_CONNECTIONS : FULL_CONNECTIONS;
    const settleMs = context.quick ? QUICK_SETTLE_MS : FULL_SETTLE_MS;
    const rounds = Math.min(context.rounds, MAX_ROUNDS);
    const limit = openFileLimit();
    if (limit.soft < count + SPARE_FDS) {
      const scaled = Math.max(
        100,
        Math.floor((limit.soft - SPARE_FDS) / 100) * 100,
      );
      context.note(
        `idle: the open-file limit is ${limit.soft} (hard ${limit.hard}) and could not be raised, ` +
          `so ${scaled} connections were held instead of ${count}.`,
      );
      count = scaled;
    }
    context.note(
      `idle: bytes per connection = (server VmRSS after ${count} clients connected and ` +
        `${settleMs / 1000} s settle − VmRSS before) / ${count}; each server started fresh for ` +
        `each reading; median of ${rounds} round(s) (at most ${MAX_ROUNDS}), the order ` +
        `alternating. Each client did one exchange (cs_msg_heart to the gate, a text echo to ` +
        `the raw server, an echo request through Pinus's connector and backend). The gate runs ` +
        `with --heartbeat-ms 600000 (no idle close during the reading) and --max-connections ` +
        `${count + 1000}; Pinus's connector with a 30 s heartbeat, which its clients answer. ` +
        `Pinus's reading is its connector process (it holds the connections; its echo backend ` +
        `and master hold none). Open-file limit ${limit.soft} per process.`,
    );
    const measurements: Measurement[] = [];
    const peers = context.before ? [...PEERS, BEFORE_PEER] : PEERS;
    const readings = new Map<string, Held[]>(peers.map((peer) => [peer.key, []]));
    /** Baselines that failed to start (twice): left out of the later rounds. */
    const failed = new Set<string>();
    for (let round = 1; round <= rounds; round++) {
      const of = rounds > 1 ? `round ${round}/${rounds}: ` : "";
      // Alternate the order, so that no peer always runs first or last.
      const order = round % 2 === 1 ? peers : [...peers].reverse();
      for (const peer of order) {
        if (failed.has(peer.key)) continue;
        context.step(`${of}${peer.label} holding ${count} connections`);
        let target: Target;
        try {
          target = await startPeer(context, peer, count);
        } catch (error) {
          if (!(error instanceof BaselineStartError)) throw error;
          failed.add(peer.key);
          continue;
        }
        let held: Held;
        try {
          held = await hold(target, count, settleMs);
        } finally {
          await target.stop();
        }
        context.detail(
          `${held.perConnection.toLocaleString("en-US")} B/conn ` +
            `(${mib(held.before)} → ${mib(held.after)}, opened in ${held.openMs} ms)`,
        );
        readings.get(peer.key)!.push(held);
        measurements.push({
          name: `idle/${peer.key}/${count}${rounds > 1 ? `/round${round}` : ""}`,
          result: { ...held },
        });
      }
    }
    /** A peer's median bytes per connection; undefined for a baseline that never started. */
    const of = (key: string) => {
      const list = readings.get(key)!;
      return list.length ? median(list).perConnection : undefined;
    };
    const ours = (key: string) => of(key)!;
    const baselineFailed = (key: string) => of(key) === undefined ? true : undefined;
    const label = count.toLocaleString("en-US");
    if (rounds > 1) {
      context.detail(
        `medians: ` +
          peers.map((p) => `${p.key} ${of(p.key)?.toLocaleString("en-US") ?? "failed to start"}`)
            .join(", ") +
          " B/conn",
      );
    }
    const rows: Row[] = [
      judge({
        scenario: `idle ${label} ws conns, memory`,
        unit: "B/conn",
        ours: ours("ours-ws"),
        baselineName: "raw echo",
        baseline: of("raw"),
        baselineFailed: baselineFailed("raw"),
        target: { kind: "ratio-at-most", value: 1.3 },
      }),
      judge({
        scenario: `idle ${label} ws conns, memory vs Pinus`,
        unit: "B/conn",
        ours: ours("ours-ws"),
        baselineName: "Pinus ws",
        baseline: of("pinus-ws"),
        baselineFailed: baselineFailed("pinus-ws"),
      }),
      judge({
        scenario: `idle ${label} tcp conns, memory vs Pinus`,
        unit: "B/conn",
        ours: ours("ours-tcp"),
        baselineName: "Pinus tcp",
        baseline: of("pinus-tcp"),
        baselineFailed: baselineFailed("pinus-tcp"),
      }),
    ];
    if (context.before) {
      rows.push(judge({
        scenario: `idle ${label} ws conns, memory vs before (${context.before.commit})`,
        unit: "B/conn",
        ours: ours("ours-ws"),
        baselineName: "before",
        baseline: ours("before-ws"),
      }));
    }
    return { rows, measurements };
  },
};
