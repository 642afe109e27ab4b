/**
 * Group broadcast load generator (Deno), one process for all its connections: `--members`
 * logged-in members of one group, spread round-robin over the gates of `--urls` (WebSocket), and
 * one more member on the first gate that sends `cs_msg_group_send {groupId, data}`, keeping
 * `--window` messages in flight. A message is done when its answer came (`reached` = every other
 * member) and every member got its `sc_msg_group_msg`. The gates need the login and group
 * services; accounts are new (`b<random>`), so the login service should hash at `--hash-cost test`.
 *
 * Usage: `deno run --allow-net bench/load/group_load.ts --urls ws://a/ws,ws://b/ws
 *   --members 200 --window 4 --warmup 1 --duration 3`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { GateClient } from "../../client/mod.ts";
import { GroupCmd } from "../../shared/mod.ts";
import { BroadcastWindow } from "./broadcast_window.ts";
import { emit, numberFlag, openInBatches, PAYLOAD, Phases } from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    urls: { type: "string" },
    members: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    window: { type: "string" },
  },
  strict: true,
});
const urls = (values.urls ?? "").split(",").filter((u) => u !== "");
if (urls.length === 0) throw new TypeError("Flag --urls is required");
const members = numberFlag("members", values.members, 200);
const durationS = numberFlag("duration", values.duration, 10);
const warmupS = numberFlag("warmup", values.warmup, 2);
const windowSize = numberFlag("window", values.window, 4);
const PASSWORD = "bench12345";

/** A new member: connected, registered, logged in. */
async function member(url: string): Promise<GateClient> {
  const client = new GateClient({ url, reconnect: false, requestTimeoutMs: 30_000 });
  await client.connect();
  const username = `b${crypto.randomUUID().replace(/-/g, "").slice(0, 15)}`;
  await client.register({ username, password: PASSWORD });
  await client.login({ username, password: PASSWORD });
  return client;
}

const connectStart = performance.now();
const sender = await member(urls[0]);
const group = await sender.requestOk<{ groupId: string; key: string }>(GroupCmd.CREATE, {});
const receivers = await openInBatches(members, 16, async (i) => {
  const client = await member(urls[i % urls.length]);
  await client.requestOk(GroupCmd.JOIN, group);
  return client;
});
const connectMs = performance.now() - connectStart;
emit("PHASE", "connected");

const phases = new Phases();
const flight = new BroadcastWindow({
  members,
  size: windowSize,
  phases,
  send(id) {
    sender.request<{ reached: number }>(GroupCmd.SEND, {
      groupId: group.groupId,
      data: { seq: id, p: PAYLOAD },
    }).then((response) => {
      if (response.state !== 1 || response.data?.reached !== members) {
        flight.fail(JSON.stringify(response));
      }
      flight.acked(id);
    }, (error) => flight.fail(String(error)));
  },
});
for (const receiver of receivers) {
  receiver.on(GroupCmd.MSG, (data) => {
    flight.received((data as { data: { seq: number } }).data.seq);
  });
}
flight.start();
await phases.run(warmupS, durationS, () => {});
const seconds = phases.seconds;
flight.stop();
for (const client of [sender, ...receivers]) client.close();
emit("RESULT", {
  mode: "group",
  connections: members + 1,
  gates: urls.length,
  window: windowSize,
  ...flight.result(seconds),
  connectMs: Math.round(connectMs),
  latencyMs: flight.latencies.summary(),
});
Deno.exit(0);
