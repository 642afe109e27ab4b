/**
 * The `hold` mode of the license load generator (license_load.ts): holders that log in and
 * heartbeat, churners that log in and out, all raw framed-TCP clients (license_raw.ts) in one
 * process; prints `PHASE …` lines and one `RESULT` line (bench/load/common.ts).
 *
 * @module
 */

import { State } from "../../shared/state_codes.ts";
import { emit, Latencies, openInBatches, Phases, round3 } from "./common.ts";
import { RawLicenseClient } from "./license_raw.ts";

/** Options of {@linkcode runHold}. */
export interface HoldOptions {
  host: string;
  port: number;
  /** Clients that log in once and heartbeat every `heartbeatMs`. */
  holders: number;
  /** Clients that repeat login → heartbeat → logout, closed loop. */
  churners: number;
  heartbeatMs: number;
  /** Starts every instance id, so that several generators can share a server. */
  prefix: string;
  warmupS: number;
  durationS: number;
}

/** The scheduler's step: holders are spread over the interval in slots of this many ms. */
const SLOT_MS = 10;

/** How long ago a client last read and sent a frame, for the first drop's text. */
function lastHeard(client: RawLicenseClient): string {
  const now = performance.now();
  return ` (it last read a frame ${Math.round(now - client.lastRead)} ms ago and sent one ` +
    `${Math.round(now - client.lastSent)} ms ago)`;
}

/** Runs the holders and churners, then prints the result. */
export async function runHold(options: HoldOptions): Promise<void> {
  const { holders, churners, heartbeatMs } = options;
  let errors = 0;
  let firstError: string | undefined;
  let dropped = 0;
  let churnersDropped = 0;
  let firstDrop: string | undefined;
  let stopping = false;
  const fault = (text: string) => {
    errors++;
    firstError ??= text;
  };
  const phases = new Phases();
  const beats = new Latencies();
  const cycleLatency = new Latencies();
  let cycles = 0;
  let held = 0;

  // Heartbeats: holder i beats in slot i mod slots, every interval, from one timer.
  const slots = Math.max(1, Math.round(heartbeatMs / SLOT_MS));
  const bySlot: RawLicenseClient[][] = Array.from({ length: slots }, () => []);
  let slot = 0;
  let lastStep = performance.now();
  const beat = (client: RawLicenseClient) => {
    if (client.ended) return;
    const sent = performance.now();
    void client.heartbeat().then((answer) => {
      if (client.ended || stopping) return;
      if (answer.body.state !== State.OK) fault(`HeartbeatReq: ${JSON.stringify(answer.body)}`);
      else if (phases.measuring) beats.add(performance.now() - sent);
    });
  };
  const timer = setInterval(() => {
    const now = performance.now();
    // A late timer catches up on the slots it missed (at most one interval's worth).
    const steps = Math.min(slots, Math.max(1, Math.floor((now - lastStep) / SLOT_MS)));
    lastStep += steps * SLOT_MS;
    if (now - lastStep > heartbeatMs) lastStep = now;
    for (let s = 0; s < steps; s++) {
      for (const client of bySlot[slot]) beat(client);
      slot = (slot + 1) % slots;
    }
  }, SLOT_MS);

  const openStart = performance.now();
  await openInBatches(holders, 100, async (i) => {
    const client = await RawLicenseClient.connect(options, (c) => {
      if (stopping) return;
      dropped++;
      firstDrop ??= `holder: ${c.ended}${lastHeard(c)}`;
    });
    const answer = await client.login(`${options.prefix}hold-${i}`);
    if (answer.body.state !== State.OK) fault(`LoginReq: ${JSON.stringify(answer.body)}`);
    else held++;
    bySlot[i % slots].push(client);
    return client;
  });
  const churnClients = await openInBatches(
    churners,
    100,
    (i) =>
      RawLicenseClient.connect(options, (c) => {
        if (stopping) return;
        churnersDropped++;
        firstDrop ??= `churner ${i}: ${c.ended}${lastHeard(c)}`;
      }),
  );
  const openMs = Math.round(performance.now() - openStart);
  emit("PHASE", "connected");

  const churn = async (client: RawLicenseClient, i: number) => {
    while (phases.running && !client.ended) {
      const start = performance.now();
      const login = await client.login(`${options.prefix}churn-${i}`);
      if (login.body.state !== State.OK) {
        if (!client.ended) fault(`LoginReq: ${JSON.stringify(login.body)}`);
        continue;
      }
      const hb = await client.heartbeat();
      const logout = await client.logout();
      if (hb.body.state !== State.OK || logout.body.state !== State.OK) {
        if (!client.ended) fault(`cycle: ${JSON.stringify([hb.body, logout.body])}`);
        continue;
      }
      if (phases.measuring) {
        cycles++;
        cycleLatency.add(performance.now() - start);
      }
    }
  };
  const loops = churnClients.map(churn);
  await phases.run(options.warmupS, options.durationS, () => {});
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
  stopping = true;
  clearInterval(timer);
  emit("RESULT", {
    mode: "hold",
    connections: holders + churners,
    holders,
    churners,
    held,
    dropped,
    churnersDropped,
    firstDrop,
    seconds: round3(phases.seconds),
    completed: cycles,
    throughput: Math.round(cycles / phases.seconds),
    errors,
    lost: dropped + churnersDropped,
    firstError,
    openMs,
    latencyMs: cycleLatency.summary(),
    heartbeatMs: beats.summary(),
  });
}
