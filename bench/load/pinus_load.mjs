/**
 * Pinus load generator (Node), one process for all its connections, mirroring
 * bench/load/socketio_load.mjs, speaking the hybridconnector protocol (bench/load/pinus_client.mjs)
 * over WebSocket (`ws://`) or TCP (`tcp://`):
 * - `echo`: closed-loop requests to route `echo.echoHandler.echo` on each connection (client →
 *   connector → echo backend → connector → client), the same body as the other generators.
 * - `idle`: opens the connections, does one echo on each, prints `READY`, and holds them (answering
 *   heartbeats) until SIGTERM.
 *
 * Prints the same `PHASE`, `READY` and `RESULT` lines as the other generators.
 *
 * Usage: `node bench/load/pinus_load.mjs --url ws://127.0.0.1:PORT --mode echo
 *   --connections 100 --duration 10 --warmup 2`
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { PinusClient } from "./pinus_client.mjs";

/** The same payload as bench/load/common.ts. */
const PAYLOAD = { text: "gatehouse bench payload 0123456789", n: 42 };
const ROUTE = "echo.echoHandler.echo";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    url: { type: "string" },
    mode: { type: "string", default: "echo" },
    connections: { type: "string", default: "100" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
  },
  strict: true,
});
const url = values.url;
const mode = values.mode;
const connections = Number(values.connections);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);

const emit = (kind, value) =>
  console.log(`${kind} ${typeof value === "string" ? value : JSON.stringify(value)}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round3 = (value) => Math.round(value * 1000) / 1000;

/** Latencies in milliseconds with the same percentile rule as common.ts. */
class Latencies {
  values = new Float64Array(1 << 16);
  count = 0;
  add(ms) {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }
  summary() {
    const n = this.count;
    if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    const sorted = this.values.slice(0, n).sort();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i];
    const at = (q) => round3(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]);
    return {
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: round3(sorted[n - 1]),
      mean: round3(sum / n),
    };
  }
}

class Phases {
  measuring = false;
  running = true;
  start = 0;
  end = 0;
  async run() {
    emit("PHASE", "warmup");
    await sleep(warmupS * 1000);
    this.start = performance.now();
    this.measuring = true;
    emit("PHASE", "measure");
    await sleep(durationS * 1000);
    this.measuring = false;
    this.running = false;
    this.end = performance.now();
    emit("PHASE", "done");
  }
  get seconds() {
    return (this.end - this.start) / 1000;
  }
}

async function openInBatches(count, concurrency, open) {
  const out = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await open(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

async function echo() {
  const connectStart = performance.now();
  const clients = await openInBatches(connections, 200, () => PinusClient.connect(url));
  const connectMs = performance.now() - connectStart;
  emit("PHASE", "connected");
  const phases = new Phases();
  const latencies = new Latencies();
  let completed = 0;
  let errors = 0;
  let closed = 0;
  let firstError;
  const loops = clients.map(async (client) => {
    client.onClose(() => {
      if (phases.running) closed++;
    });
    let msgId = 0;
    while (phases.running) {
      msgId++;
      const sentAt = performance.now();
      let reply;
      try {
        reply = await client.request(ROUTE, { msgId, time: Date.now(), data: PAYLOAD });
      } catch (error) {
        errors++;
        firstError ??= String(error);
        return;
      }
      if (reply?.msgId !== msgId) {
        errors++;
        firstError ??= `reply ${JSON.stringify(reply)} to request ${msgId}`;
      } else if (phases.measuring) {
        completed++;
        latencies.add(performance.now() - sentAt);
      }
    }
  });
  await phases.run();
  const seconds = phases.seconds;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  for (const client of clients) client.close();
  emit("RESULT", {
    mode,
    connections,
    seconds: round3(seconds),
    completed,
    throughput: Math.round(completed / seconds),
    errors,
    closedEarly: closed,
    firstError,
    connectMs: Math.round(connectMs),
    latencyMs: latencies.summary(),
  });
}

async function idle() {
  const start = performance.now();
  let closed = 0;
  const clients = await openInBatches(connections, 200, async (i) => {
    const client = await PinusClient.connect(url);
    const reply = await client.request(ROUTE, { hello: i }, 30_000);
    if (reply?.hello !== i) throw new Error(`The echo answered ${JSON.stringify(reply)}`);
    client.onClose(() => closed++);
    return client;
  });
  emit("READY", {
    connections: clients.length,
    openMs: Math.round(performance.now() - start),
  });
  await new Promise((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  emit("RESULT", { mode, connections, closedEarly: closed });
}

if (!url) throw new TypeError("Flag --url is required");
if (mode === "echo") await echo();
else if (mode === "idle") await idle();
else throw new TypeError(`Unknown --mode ${mode}`);
process.exit(0);
