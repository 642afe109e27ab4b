/**
 * Socket.IO load generator (Node, `socket.io-client` from npm), one process for all its
 * connections, mirroring bench/load/ws_load.ts:
 * - `echo`: closed-loop `emitWithAck("echo", request)` on each connection.
 * - `broadcast`: `--connections` receivers join a room, one more socket sends
 *   `emitWithAck("broadcast", {room, data})`, keeping `--window` broadcasts in flight (one is done
 *   when its ack came and every receiver got it).
 *
 * Prints the same `PHASE` and `RESULT` lines as the Deno generators. Every socket is forced to
 * the WebSocket transport (no long-polling first) and opened with `forceNew` (no multiplexing).
 *
 * Usage: `node bench/load/socketio_load.mjs --url http://127.0.0.1:PORT --mode echo
 *   --connections 100 --duration 10 --warmup 2`
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

/** The same payload as bench/load/common.ts. */
const PAYLOAD = { text: "gatehouse bench payload 0123456789", n: 42 };

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    url: { type: "string" },
    mode: { type: "string", default: "echo" },
    connections: { type: "string", default: "100" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    window: { type: "string", default: "4" },
  },
  strict: true,
});
const url = values.url;
const mode = values.mode;
const connections = Number(values.connections);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const windowSize = Number(values.window);

const emit = (kind, value) =>
  console.log(
    `${kind} ${typeof value === "string" ? value : JSON.stringify(value)}`,
  );
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

function openSocket() {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => reject(error));
  });
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
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, worker),
  );
  return out;
}

async function echo() {
  const connectStart = performance.now();
  const sockets = await openInBatches(connections, 200, () => openSocket());
  const connectMs = performance.now() - connectStart;
  emit("PHASE", "connected");
  const phases = new Phases();
  const latencies = new Latencies();
  let completed = 0;
  let errors = 0;
  let closed = 0;
  const loops = sockets.map(async (socket) => {
    socket.on("disconnect", () => {
      if (phases.running) closed++;
    });
    let msgId = 0;
    while (phases.running) {
      msgId++;
      const sentAt = performance.now();
      let reply;
      try {
        reply = await socket.emitWithAck("echo", {
          msgId,
          time: Date.now(),
          data: PAYLOAD,
        });
      } catch {
        errors++;
        return;
      }
      if (reply?.msgId !== msgId) errors++;
      else if (phases.measuring) {
        completed++;
        latencies.add(performance.now() - sentAt);
      }
    }
  });
  await phases.run();
  const seconds = phases.seconds;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  for (const socket of sockets) socket.disconnect();
  emit("RESULT", {
    mode,
    connections,
    seconds: round3(seconds),
    completed,
    throughput: Math.round(completed / seconds),
    errors,
    closedEarly: closed,
    connectMs: Math.round(connectMs),
    latencyMs: latencies.summary(),
  });
}

async function broadcast() {
  const connectStart = performance.now();
  const room = "bench";
  const receivers = await openInBatches(connections, 200, async () => {
    const socket = await openSocket();
    await socket.emitWithAck("join", room);
    return socket;
  });
  const sender = await openSocket();
  const connectMs = performance.now() - connectStart;
  emit("PHASE", "connected");

  const phases = new Phases();
  const latencies = new Latencies();
  const inFlight = new Map();
  let seq = 0;
  let delivered = 0;
  let broadcasts = 0;
  let errors = 0;
  let lost = 0;

  const maybeDone = (id, entry) => {
    if (!entry.acked || entry.got < connections) return;
    inFlight.delete(id);
    if (phases.measuring) {
      broadcasts++;
      latencies.add(performance.now() - entry.sentAt);
    }
    if (phases.running) sendNext();
  };
  const sendNext = () => {
    const id = ++seq;
    const entry = { sentAt: performance.now(), got: 0, acked: false };
    inFlight.set(id, entry);
    sender.emitWithAck("broadcast", { room, data: { seq: id, p: PAYLOAD } })
      .then((ok) => {
        if (ok !== true) errors++;
        entry.acked = true;
        if (inFlight.get(id) === entry) maybeDone(id, entry);
      }, () => errors++);
  };
  for (const socket of receivers) {
    socket.on("bench_msg", (data) => {
      if (phases.measuring) delivered++;
      const entry = inFlight.get(data.seq);
      if (!entry) return;
      entry.got++;
      maybeDone(data.seq, entry);
    });
  }
  const reaper = setInterval(() => {
    const now = performance.now();
    for (const [id, entry] of inFlight) {
      if (now - entry.sentAt > 10_000) {
        inFlight.delete(id);
        lost++;
        if (phases.running) sendNext();
      }
    }
  }, 1000);
  for (let i = 0; i < windowSize; i++) sendNext();
  await phases.run();
  const seconds = phases.seconds;
  clearInterval(reaper);
  await sleep(200);
  for (const socket of [...receivers, sender]) socket.disconnect();
  emit("RESULT", {
    mode,
    connections,
    window: windowSize,
    seconds: round3(seconds),
    delivered,
    throughput: Math.round(delivered / seconds),
    broadcasts,
    broadcastsPerSecond: round3(broadcasts / seconds),
    errors,
    lost,
    connectMs: Math.round(connectMs),
    latencyMs: latencies.summary(),
  });
}

if (!url) throw new TypeError("Flag --url is required");
if (mode === "broadcast") await broadcast();
else if (mode === "echo") await echo();
else throw new TypeError(`Unknown --mode ${mode}`);
process.exit(0);
