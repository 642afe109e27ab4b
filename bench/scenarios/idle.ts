/**
 * Idle connections: N WebSocket clients held open (10,000; `--quick` 1,000), and the server's
 * resident memory per connection: VmRSS of the server process after the clients are connected
 * and a settle, minus VmRSS before, over N. Ours is the gate alone; the baseline is the raw Deno
 * WebSocket echo server holding the same N. Each server is started fresh.
 *
 * Target (issue 7): ≤ 1.3× the raw server's bytes per connection.
 *
 * @module
 */

import { spawnGenerator } from "../lib/load.ts";
import { openFileLimit, rssBytes, sleep } from "../lib/proc.ts";
import { startOurs, startRawEcho } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Measurement,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

const FULL_CONNECTIONS = 10_000;
const QUICK_CONNECTIONS = 1_000;
/** File descriptors a process needs beyond its sockets. */
const SPARE_FDS = 200;
/** How long the server is left alone before each memory reading. */
const SETTLE_MS = 3000;

interface Held {
  /** Resident bytes before and after the clients connected. */
  before: number;
  after: number;
  perConnection: number;
  connections: number;
  openMs: number;
}

/** Connects `count` idle clients to a started server and reads its memory around it. */
async function hold(
  target: {
    url: string;
    pid: number;
    hello: "gate" | "echo";
    connections(): Promise<number>;
  },
  count: number,
): Promise<Held> {
  await sleep(SETTLE_MS);
  const before = rssBytes(target.pid);
  const load = spawnGenerator("ws", [
    "--url",
    target.url,
    "--mode",
    "idle",
    "--connections",
    String(count),
    "--hello",
    target.hello,
  ]);
  try {
    const [, json] = await load.waitForLine(/^READY (.*)$/, 180_000);
    const ready = JSON.parse(json) as { connections: number; openMs: number };
    await sleep(SETTLE_MS);
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

/** The idle-connections scenario. */
export const idle: Scenario = {
  name: "idle",
  description: "idle connections: memory per WebSocket connection held by the gate",
  async run(context: BenchContext): Promise<ScenarioResult> {
    let count = context.quick ? QUICK_CONNECTIONS : FULL_CONNECTIONS;
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
      `idle: bytes per connection = (server VmRSS after ${count} WebSocket clients connected and ` +
        `${SETTLE_MS / 1000} s settle − VmRSS before) / ${count}; each server started fresh; ` +
        `each client did one exchange (cs_msg_heart to the gate, a text echo to the raw server). ` +
        `The gate runs with --heartbeat-ms 600000 (no idle close during the reading) and ` +
        `--max-connections ${count + 1000}. Open-file limit ${limit.soft} per process.`,
    );
    const measurements: Measurement[] = [];

    context.step(`raw Deno WebSocket echo server holding ${count} connections`);
    const raw = await startRawEcho();
    let rawHeld: Held;
    try {
      rawHeld = await hold({
        url: raw.wsUrl,
        pid: raw.pids.server,
        hello: "echo",
        connections: raw.connections,
      }, count);
    } finally {
      await raw.stop();
    }
    context.detail(
      `${rawHeld.perConnection.toLocaleString("en-US")} B/conn ` +
        `(${mib(rawHeld.before)} → ${mib(rawHeld.after)}, opened in ${rawHeld.openMs} ms)`,
    );
    measurements.push({ name: `idle/raw/${count}`, result: { ...rawHeld } });

    context.step(`our gate holding ${count} connections`);
    const ours = await startOurs(context, {
      echo: false,
      gateFlags: [
        "--heartbeat-ms",
        "600000",
        "--max-connections",
        String(count + 1000),
      ],
    });
    let oursHeld: Held;
    try {
      oursHeld = await hold({
        url: ours.wsUrl,
        pid: ours.pids.gate,
        hello: "gate",
        connections: ours.connections,
      }, count);
    } finally {
      await ours.stop();
    }
    context.detail(
      `${oursHeld.perConnection.toLocaleString("en-US")} B/conn ` +
        `(${mib(oursHeld.before)} → ${mib(oursHeld.after)}, opened in ${oursHeld.openMs} ms)`,
    );
    measurements.push({
      name: `idle/ours-ws/${count}`,
      result: { ...oursHeld },
    });

    const rows = [judge({
      scenario: `idle ${count.toLocaleString("en-US")} ws conns, memory`,
      unit: "B/conn",
      ours: oursHeld.perConnection,
      baselineName: "raw echo",
      baseline: rawHeld.perConnection,
      target: { kind: "ratio-at-most", value: 1.3 },
    })];
    if (context.before) {
      context.step(`the gate of ${context.before.commit} holding ${count} connections`);
      const before = await startOurs(context, {
        echo: false,
        rootDir: context.before.rootDir,
        gateFlags: ["--heartbeat-ms", "600000", "--max-connections", String(count + 1000)],
      });
      let beforeHeld: Held;
      try {
        beforeHeld = await hold({
          url: before.wsUrl,
          pid: before.pids.gate,
          hello: "gate",
          connections: before.connections,
        }, count);
      } finally {
        await before.stop();
      }
      context.detail(
        `${beforeHeld.perConnection.toLocaleString("en-US")} B/conn ` +
          `(${mib(beforeHeld.before)} → ${
            mib(beforeHeld.after)
          }, opened in ${beforeHeld.openMs} ms)`,
      );
      measurements.push({ name: `idle/before-ws/${count}`, result: { ...beforeHeld } });
      rows.push(judge({
        scenario: `idle ${
          count.toLocaleString("en-US")
        } ws conns, memory vs before (${context.before.commit})`,
        unit: "B/conn",
        ours: oursHeld.perConnection,
        baselineName: "before",
        baseline: beforeHeld.perConnection,
      }));
    }
    return { rows, measurements };
  },
};
