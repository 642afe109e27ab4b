/**
 * License-server load (Deno), one process for all its clients: N `LicenseClient`s
 * (client/license_client.ts, the library programs use), each on its own framed-TCP connection.
 *
 * Modes:
 * - `cycle`: each client repeats login → heartbeat → logout (`sendLoginReq`, `sendHeartbeatReq`,
 *   `sendLogoutReq`, each awaited), closed loop; a cycle counts when all three answered OK. The
 *   throughput is cycles per second; the latency is per cycle.
 * - `idle`: each client logs in and then only heartbeats (the client's own timer, on the
 *   server's interval); prints `READY {connections, licensed, openMs}` and holds until SIGTERM.
 * - `hold`: raw framed-TCP clients (license_raw.ts, light enough for 10,000 in one process):
 *   `--holders` clients log in and heartbeat every `--heartbeat-ms` (spread over the interval),
 *   while `--churners` others repeat login → heartbeat → logout, closed loop. The result counts
 *   the holders the server dropped (`dropped`, with the first reason), the churners' cycles per
 *   second, and the holders' heartbeat round trips (`heartbeatMs`: an upper bound on how late the
 *   server read them). With `--holders 0` it is the plain cycle test on raw clients.
 *
 * Usage: `deno run --allow-net bench/load/license_load.ts --port 8090 --mode cycle
 *   --connections 1000 --duration 10 --warmup 2`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LicenseClient } from "../../client/license_client.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { runHold } from "./license_hold.ts";
import { State } from "../../shared/state_codes.ts";
import {
  emit,
  Latencies,
  numberFlag,
  openInBatches,
  Phases,
  round3,
  untilSignal,
} from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    mode: { type: "string", default: "cycle" },
    connections: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    holders: { type: "string" },
    churners: { type: "string" },
    "heartbeat-ms": { type: "string" },
    prefix: { type: "string", default: "" },
  },
  strict: true,
});
const mode = values.mode;
if (mode !== "cycle" && mode !== "idle" && mode !== "hold") {
  throw new TypeError("Flag --mode must be cycle, idle or hold");
}
const port = numberFlag("port", values.port, 8090);
const connections = Math.floor(numberFlag("connections", values.connections, 1000));
const durationS = numberFlag("duration", values.duration, 10);
const warmupS = numberFlag("warmup", values.warmup, 2);

const types = new MessageTypes();
let errors = 0;
let firstError: string | undefined;
let lost = 0;

function fault(text: string): void {
  errors++;
  firstError ??= text;
}

/** Starts one client; `lost` counts connections that ended while the run was going on. */
async function open(i: number): Promise<LicenseClient> {
  const client = new LicenseClient();
  await client.start(
    { host: values.host, port, user: `bench${i}`, hostName: "bench", instanceId: `bench-${i}` },
    types,
    (event) => {
      if (event.status === "lost") {
        lost++;
        firstError ??= `lost: ${event.msg}`;
      }
    },
  );
  return client;
}

if (mode === "hold") {
  await runHold({
    host: values.host,
    port,
    holders: Math.floor(values.holders === "0" ? 0 : numberFlag("holders", values.holders, 1000)),
    churners: Math.floor(
      values.churners === "0" ? 0 : numberFlag("churners", values.churners, 1000),
    ),
    heartbeatMs: numberFlag("heartbeat-ms", values["heartbeat-ms"], 1000),
    prefix: values.prefix,
    warmupS,
    durationS,
  });
  Deno.exit(0);
}

const openStart = performance.now();
const clients = await openInBatches(connections, 100, open);
const openMs = Math.round(performance.now() - openStart);
emit("PHASE", "connected");

if (mode === "idle") {
  let licensed = 0;
  await openInBatches(connections, 100, async (i) => {
    const rsp = await clients[i].sendLoginReq();
    if (rsp.state === State.OK) licensed++;
    else fault(`LoginReq: ${rsp.state} ${rsp.msg}`);
  });
  emit("READY", { connections, licensed, openMs, errors, firstError });
  await untilSignal();
  emit("RESULT", { mode, connections, licensed, lost, errors, firstError });
  Deno.exit(0);
}

const phases = new Phases();
const latencies = new Latencies();
let cycles = 0;

/** One client's closed loop of login → heartbeat → logout. */
async function cycle(client: LicenseClient): Promise<void> {
  while (phases.running) {
    const start = performance.now();
    try {
      const login = await client.sendLoginReq();
      if (login.state !== State.OK) {
        fault(`LoginReq: ${login.state} ${login.msg}`);
        continue;
      }
      const beat = await client.sendHeartbeatReq();
      if (beat.state !== State.OK) fault(`HeartbeatReq: ${beat.state} ${beat.msg}`);
      const logout = await client.sendLogoutReq();
      if (logout.state !== State.OK) {
        fault(`LogoutReq: ${logout.state} ${logout.msg}`);
        continue;
      }
      if (phases.measuring && beat.state === State.OK) {
        cycles++;
        latencies.add(performance.now() - start);
      }
    } catch (error) {
      fault(String(error));
      if (!client.connected) return;
    }
  }
}

const loops = clients.map(cycle);
await phases.run(warmupS, durationS, () => {});
await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
emit("RESULT", {
  mode,
  connections,
  seconds: round3(phases.seconds),
  completed: cycles,
  throughput: Math.round(cycles / phases.seconds),
  errors,
  lost,
  closedEarly: lost,
  firstError,
  openMs,
  latencyMs: latencies.summary(),
});
Deno.exit(0);
