/**
 * Framed-TCP load generator (Deno), one process for all its connections: closed-loop requests in
 * our envelope protocol, each in an `Envelope` frame (shared/frame.ts), to the gate's TCP port.
 * Each connection sends a request, waits for its response, sends the next.
 *
 * Modes:
 * - `envelope`: `echo` requests (the echo service).
 * - `register`: `cs_msg_register {username, password}` (the login service), each with a new
 *   username (`r<connection>x<n>`, unique within the run: use a fresh database per run).
 * - `idle`: opens the connections, does one `cs_msg_heart` exchange on each, prints `READY`, and
 *   holds them until SIGTERM (the idle-connections scenario).
 *
 * Usage: `deno run --allow-net bench/load/tcp_load.ts --url tcp://127.0.0.1:8081
 *   [--mode envelope|register|idle] --connections 100 --duration 10 --warmup 2`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_MESSAGE_TYPES, encodeFrame, FrameDecoder, frameText } from "../../shared/mod.ts";
import {
  emit,
  Latencies,
  numberFlag,
  openInBatches,
  PAYLOAD,
  Phases,
  round3,
  untilSignal,
} from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string" },
    mode: { type: "string", default: "envelope" },
    connections: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
  },
  strict: true,
});
const match = values.url?.match(/^tcp:\/\/([^:/]+):(\d+)\/?$/);
if (!match) throw new TypeError("Flag --url must be tcp://host:port");
const mode = values.mode;
if (mode !== "envelope" && mode !== "register" && mode !== "idle") {
  throw new TypeError("tcp_load.ts has --mode envelope, register or idle");
}
const hostname = match[1];
const port = Number(match[2]);
const connections = numberFlag("connections", values.connections, 100);
const durationS = numberFlag("duration", values.duration, 10);
const warmupS = numberFlag("warmup", values.warmup, 2);

const ENVELOPE = DEFAULT_MESSAGE_TYPES.Envelope;
const payloadJson = JSON.stringify(PAYLOAD);
const phases = new Phases();
const latencies = new Latencies();
let completed = 0;
let errors = 0;
let closed = 0;
let firstError: string | undefined;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** The password of every account `register` mode creates. */
const PASSWORD = "benchpass1";

/** The request text of a connection's n-th request. */
function requestText(connection: number, msgId: number): string {
  const time = Date.now();
  if (mode === "envelope") {
    return `{"cmd":"echo","is_req":true,"msgId":${msgId},"time":${time},"data":${payloadJson}}`;
  }
  // 6 to 16 letters and digits, unique per connection and request.
  const username = `r${String(connection).padStart(4, "0")}x${msgId}`;
  return `{"cmd":"cs_msg_register","is_req":true,"msgId":${msgId},"time":${time},` +
    `"data":{"username":"${username}","password":"${PASSWORD}"}}`;
}

/** One connection's closed loop; resolves when the measured window has closed. */
async function loop(conn: Deno.Conn, connection: number): Promise<void> {
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let seq = 0;
  let msgId = 0;
  let sentAt = 0;
  const send = () => {
    msgId++;
    seq = (seq + 1) >>> 0;
    sentAt = performance.now();
    const body = requestText(connection, msgId);
    return writeAll(conn, encodeFrame({ seq, type: ENVELOPE, body }));
  };
  await send();
  while (phases.running) {
    const n = await conn.read(buffer);
    if (n === null) {
      if (phases.running) closed++;
      return;
    }
    for (const frame of decoder.push(buffer.subarray(0, n))) {
      const now = performance.now();
      const text = frameText(frame);
      const envelope = frame.type === ENVELOPE ? JSON.parse(text) : undefined;
      if (
        !envelope || envelope.msgId !== msgId || envelope.is_resp !== true ||
        envelope.state !== 1
      ) {
        errors++;
        firstError ??= `type ${frame.type}: ${text.slice(0, 300)}`;
        if (envelope?.is_resp !== true) continue;
      } else if (phases.measuring) {
        completed++;
        latencies.add(now - sentAt);
      }
      if (phases.running) await send();
    }
  }
}

/** Opens `connections` idle connections, one `cs_msg_heart` each, and holds them until SIGTERM. */
async function idle(): Promise<never> {
  const start = performance.now();
  const held = await openInBatches(connections, 200, async () => {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    const body = `{"cmd":"cs_msg_heart","is_req":true,"msgId":1,"time":${Date.now()},"data":{}}`;
    await writeAll(conn, encodeFrame({ seq: 1, type: ENVELOPE, body }));
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(4096);
    const timer = setTimeout(() => conn.close(), 30_000);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("The gate closed a connection before answering");
        const [frame] = decoder.push(buffer.subarray(0, n));
        if (!frame) continue;
        const answer = JSON.parse(frameText(frame));
        if (answer.state !== 1) {
          throw new Error(`cs_msg_heart answered ${JSON.stringify(answer)}`);
        }
        return conn;
      }
    } finally {
      clearTimeout(timer);
    }
  });
  emit("READY", { connections: held.length, openMs: Math.round(performance.now() - start) });
  await untilSignal();
  emit("RESULT", { mode, transport: "tcp", connections });
  Deno.exit(0);
}

if (mode === "idle") await idle();

const connectStart = performance.now();
const conns = await openInBatches(connections, 200, async () => {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  return conn;
});
const connectMs = performance.now() - connectStart;
emit("PHASE", "connected");
const loops = conns.map((conn, i) =>
  loop(conn, i).catch(() => {
    if (phases.running) closed++;
  })
);
await phases.run(warmupS, durationS, () => {});
const seconds = phases.seconds;
for (const conn of conns) {
  try {
    conn.close();
  } catch { /* already closed */ }
}
await Promise.race([
  Promise.all(loops),
  new Promise((resolve) => setTimeout(resolve, 1000)),
]);
emit("RESULT", {
  mode,
  transport: "tcp",
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
Deno.exit(0);
