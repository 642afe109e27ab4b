/**
 * WebSocket load generator (Deno), one process for all its connections.
 *
 * Modes:
 * - `envelope`: closed-loop `echo` requests in our envelope protocol to the gate: each connection
 *   sends a request, waits for its response, sends the next.
 * - `echo`: the same loop against a plain echo server (the raw baseline): the same request text
 *   is sent and comes back as it is.
 * - `broadcast`: `--connections` receivers on the gate learn their clientId, and one more
 *   connection sends `echo_push {clientIds, cmd, data}` to all of them, keeping `--window`
 *   broadcasts in flight (a broadcast is done when its ack came and every receiver got it).
 *   With `--sender-url tcp://host:port` the sender uses the gate's framed TCP with TCP_NODELAY:
 *   Deno's WebSocket client holds a message of about 1 KB to 64 KB for a delayed ACK (~40 ms on
 *   loopback), and the request naming 1,000 clientIds is that size (see bench/FINDINGS.md).
 * - `register`: closed-loop `cs_msg_register` requests, each with a new username (the login
 *   service). With `--distinct-sources` each connection sends its own `X-Forwarded-For`
 *   (10.x.y.1), so that a gate run with `--trust-proxy 127.0.0.1` stamps a client address of its
 *   own on each: the login service's per-address hashing budget is then each client's, as with
 *   real users, not one budget shared by the whole load.
 * - `idle`: opens the connections, does one exchange on each (`cs_msg_heart` to the gate, a text
 *   echo to the raw server), prints `READY`, and holds them until SIGTERM.
 *
 * Usage: `deno run --allow-net bench/load/ws_load.ts --url ws://127.0.0.1:8080/ws
 *   --mode envelope --connections 100 --duration 10 --warmup 2`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_MESSAGE_TYPES, encodeFrame, FrameDecoder, frameText } from "../../shared/mod.ts";
import { BroadcastWindow } from "./broadcast_window.ts";
import {
  emit,
  Latencies,
  numberFlag,
  openInBatches,
  PAYLOAD,
  Phases,
  round3,
  sleep,
  untilSignal,
} from "./common.ts";

type Mode = "envelope" | "echo" | "broadcast" | "idle" | "register";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string" },
    mode: { type: "string", default: "envelope" },
    connections: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    window: { type: "string" },
    hello: { type: "string" },
    "sender-url": { type: "string" },
    "distinct-sources": { type: "boolean", default: false },
  },
  strict: true,
});
const url = values.url;
if (!url) throw new TypeError("Flag --url is required");
const mode = values.mode as Mode;
if (!["envelope", "echo", "broadcast", "idle", "register"].includes(mode)) {
  throw new TypeError(`Unknown --mode ${mode}`);
}
const connections = numberFlag("connections", values.connections, 100);
const durationS = numberFlag("duration", values.duration, 10);
const warmupS = numberFlag("warmup", values.warmup, 2);
const windowSize = numberFlag("window", values.window, 4);

/** The `X-Forwarded-For` of connection `i` with `--distinct-sources`: 10.x.y.1. */
function sourceOf(i: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.1`;
}

/** Opens one WebSocket (connection `i`); resolves once open. */
function openSocket(i = 0): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // Deno's WebSocket takes headers in a second argument of options.
    const socket = values["distinct-sources"]
      ? new WebSocket(
        url!,
        { headers: { "x-forwarded-for": sourceOf(i) } } as unknown as string[],
      )
      : new WebSocket(url!);
    socket.onopen = () => {
      socket.onerror = null;
      resolve(socket);
    };
    socket.onerror = () => reject(new Error(`Could not open a WebSocket to ${url}`));
  });
}

/** A connection that sends envelope texts and hands each text received to `onText`. */
interface Sender {
  send(text: string): void;
  onText: (text: string) => void;
  close(): void;
}

/** A sender over WebSocket. */
async function webSocketSender(): Promise<Sender> {
  const socket = await openSocket();
  const sender: Sender = {
    send: (text) => socket.send(text),
    onText: () => {},
    close: () => socket.close(),
  };
  socket.onmessage = (event) => sender.onText(String(event.data));
  return sender;
}

/** A sender over the gate's framed TCP, with TCP_NODELAY. */
async function tcpSender(tcpUrl: string): Promise<Sender> {
  const match = tcpUrl.match(/^tcp:\/\/([^:/]+):(\d+)\/?$/);
  if (!match) throw new TypeError("Flag --sender-url must be tcp://host:port");
  const conn = await Deno.connect({ hostname: match[1], port: Number(match[2]) });
  conn.setNoDelay(true);
  let seq = 0;
  let writing = Promise.resolve();
  const sender: Sender = {
    send(text) {
      seq = (seq + 1) >>> 0;
      const bytes = encodeFrame({ seq, type: DEFAULT_MESSAGE_TYPES.Envelope, body: text });
      writing = writing.then(async () => {
        let written = 0;
        while (written < bytes.length) written += await conn.write(bytes.subarray(written));
      }).catch(() => {});
    },
    onText: () => {},
    close() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
  (async () => {
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return;
      for (const frame of decoder.push(buffer.subarray(0, n))) {
        if (frame.type === DEFAULT_MESSAGE_TYPES.Envelope) sender.onText(frameText(frame));
      }
    }
  })().catch(() => {});
  return sender;
}

/** Sends one text and resolves with the first message back. */
function exchange(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("No answer within 30 s")),
      30_000,
    );
    socket.onmessage = (event) => {
      clearTimeout(timer);
      socket.onmessage = null;
      resolve(String(event.data));
    };
    socket.send(text);
  });
}

function requestText(cmd: string, msgId: number, dataJson: string): string {
  return `{"cmd":"${cmd}","is_req":true,"msgId":${msgId},"time":${Date.now()},"data":${dataJson}}`;
}

const payloadJson = JSON.stringify(PAYLOAD);

async function requestResponse(): Promise<void> {
  const connectStart = performance.now();
  const sockets = await openInBatches(connections, 200, (i) => openSocket(i));
  const connectMs = performance.now() - connectStart;
  emit("PHASE", "connected");
  const phases = new Phases();
  const latencies = new Latencies();
  let completed = 0;
  let errors = 0;
  let closed = 0;
  const firstError: string[] = [];

  for (const [i, socket] of sockets.entries()) {
    let msgId = 0;
    let sentAt = 0;
    const send = () => {
      msgId++;
      sentAt = performance.now();
      if (mode === "register") {
        // 6 to 16 letters and digits, unique per connection and request.
        const username = `w${String(i).padStart(4, "0")}x${msgId}`;
        socket.send(requestText(
          "cs_msg_register",
          msgId,
          `{"username":"${username}","password":"benchpass1"}`,
        ));
      } else socket.send(requestText("echo", msgId, payloadJson));
    };
    socket.onmessage = (event) => {
      const now = performance.now();
      const envelope = JSON.parse(event.data as string);
      const ok = envelope.msgId === msgId &&
        (mode === "echo" ||
          (envelope.is_resp === true && envelope.state === 1));
      if (!ok) {
        errors++;
        if (firstError.length === 0) {
          firstError.push(String(event.data).slice(0, 300));
        }
        // A push or an error does not end the outstanding request; a wrong response does.
        if (envelope.is_resp !== true && mode !== "echo") return;
      } else if (phases.measuring) {
        completed++;
        latencies.add(now - sentAt);
      }
      if (phases.running) send();
    };
    socket.onclose = () => closed++;
    socket.onerror = () => {};
    (socket as unknown as { start: () => void }).start = send;
  }
  for (const socket of sockets) {
    (socket as unknown as { start: () => void }).start();
  }
  await phases.run(warmupS, durationS, () => {});
  const seconds = phases.seconds;
  await sleep(200);
  for (const socket of sockets) socket.close();
  emit("RESULT", {
    mode,
    connections,
    seconds: round3(seconds),
    completed,
    // Sign-ups at the owasp cost come a few per second: keep the decimals.
    throughput: mode === "register" ? round3(completed / seconds) : Math.round(completed / seconds),
    errors,
    closedEarly: closed,
    firstError: firstError[0],
    connectMs: Math.round(connectMs),
    latencyMs: latencies.summary(),
  });
}

async function broadcast(): Promise<void> {
  const connectStart = performance.now();
  const receivers = await openInBatches(connections, 200, () => openSocket());
  const clientIds: number[] = [];
  for (const [i, socket] of receivers.entries()) {
    const answer = JSON.parse(
      await exchange(socket, requestText("echo", 1, "{}")),
    );
    if (answer.state !== 1) {
      throw new Error(`echo answered ${JSON.stringify(answer)}`);
    }
    clientIds[i] = answer.data.clientId;
  }
  const senderUrl = values["sender-url"];
  const sender = senderUrl ? await tcpSender(senderUrl) : await webSocketSender();
  const connectMs = performance.now() - connectStart;
  emit("PHASE", "connected");

  const phases = new Phases();
  const idsJson = JSON.stringify(clientIds);
  const flight = new BroadcastWindow({
    members: connections,
    size: windowSize,
    phases,
    send(id) {
      const data =
        `{"clientIds":${idsJson},"cmd":"sc_bench","data":{"seq":${id},"p":${payloadJson}}}`;
      sender.send(requestText("echo_push", id, data));
    },
  });
  for (const socket of receivers) {
    socket.onmessage = (event) => {
      const envelope = JSON.parse(event.data as string);
      if (envelope.is_push !== true || envelope.cmd !== "sc_bench") {
        flight.fail(String(event.data));
        return;
      }
      flight.received(envelope.data.seq as number);
    };
    socket.onerror = () => {};
  }
  sender.onText = (text) => {
    const envelope = JSON.parse(text);
    if (envelope.is_resp !== true) return;
    if (envelope.state !== 1 || envelope.data?.reached !== connections) flight.fail(text);
    flight.acked(envelope.msgId as number);
  };
  flight.start();
  await phases.run(warmupS, durationS, () => {});
  const seconds = phases.seconds;
  flight.stop();
  await sleep(200);
  for (const socket of receivers) socket.close();
  sender.close();
  emit("RESULT", {
    mode,
    connections,
    window: windowSize,
    sender: senderUrl ? "tcp" : "ws",
    ...flight.result(seconds),
    connectMs: Math.round(connectMs),
    latencyMs: flight.latencies.summary(),
  });
}

async function idle(): Promise<void> {
  const hello = values.hello ?? "gate";
  const start = performance.now();
  let closed = 0;
  const sockets = await openInBatches(connections, 200, async (i) => {
    const socket = await openSocket();
    if (hello === "gate") {
      const answer = JSON.parse(
        await exchange(socket, requestText("cs_msg_heart", 1, "{}")),
      );
      if (answer.state !== 1) {
        throw new Error(`cs_msg_heart answered ${JSON.stringify(answer)}`);
      }
    } else if (hello === "echo") {
      await exchange(socket, `hello ${i}`);
    }
    socket.onclose = () => closed++;
    socket.onerror = () => {};
    return socket;
  });
  emit("READY", {
    connections: sockets.length,
    openMs: Math.round(performance.now() - start),
  });
  await untilSignal();
  emit("RESULT", { mode, connections, closedEarly: closed });
  Deno.exit(0);
}

if (mode === "idle") await idle();
else if (mode === "broadcast") await broadcast();
else await requestResponse();
Deno.exit(0);
