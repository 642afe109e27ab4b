/**
 * Group broadcast: one group of N members (1,000; `--quick` 200), messages delivered per second
 * at the receivers. Ours: N WebSocket clients of the gate, and one more that asks the echo
 * service for `echo_push {clientIds, cmd, data}`, which becomes one `ss_msg_push` to all
 * members. (When the group service lands, this switches to `cs_msg_group_send`.) Baseline:
 * Socket.IO room broadcast to N sockets. Both keep the same number of broadcasts in flight, one
 * being done when the sender's ack came and every member got it.
 *
 * Target (issue 7): ≥ 1.0× Socket.IO.
 *
 * @module
 */

import { BaselineStartError, startBaseline } from "../lib/baseline.ts";
import { latencyOf, measureRounds, runBroadcastLoad } from "../lib/broadcast_load.ts";
import { disturbed, type Generator, type LoadReport, medianReport } from "../lib/load.ts";
import { type Peer, startOurs, startSocketIo, UNLIMITED_RATE } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

const FULL_MEMBERS = 1000;
const QUICK_MEMBERS = 200;
/** Broadcasts in flight at once, the same for ours and the baseline. */
const WINDOW = 4;

interface Variant {
  key: string;
  label: string;
  generator: Generator;
  /** Someone else's server: retried once if it fails to start, then left out (lib/baseline.ts). */
  baseline?: boolean;
  start(context: BenchContext): Promise<Peer & { url: string; extraFlags: string[] }>;
}

const VARIANTS: Variant[] = [
  {
    key: "socketio",
    label: "Socket.IO room broadcast",
    generator: "socketio",
    baseline: true,
    start: async (context) => ({ ...await startSocketIo(context), extraFlags: [] }),
  },
  {
    key: "ours-link-ws",
    label: "ours, echo service linked over WebSocket (its default)",
    generator: "ws",
    start: async (context) => {
      const peer = await startOurs(context, { gateFlags: UNLIMITED_RATE, echoTestCommands: true });
      return { ...peer, url: peer.wsUrl, extraFlags: ["--sender-url", peer.tcpUrl] };
    },
  },
  {
    key: "ours-link-tcp",
    label: "ours, echo service linked over framed TCP",
    generator: "ws",
    start: async (context) => {
      const peer = await startOurs(context, {
        gateFlags: UNLIMITED_RATE,
        echoTestCommands: true,
        serviceTransport: "tcp",
      });
      return { ...peer, url: peer.wsUrl, extraFlags: ["--sender-url", peer.tcpUrl] };
    },
  },
];

/** One run of `variant`; undefined when it is a baseline that failed to start (twice). */
async function measure(
  context: BenchContext,
  variant: Variant,
  members: number,
): Promise<LoadReport | undefined> {
  const start = () => variant.start(context);
  let peer;
  try {
    peer = variant.baseline
      ? await startBaseline(context, { label: variant.label, start })
      : await start();
  } catch (error) {
    if (error instanceof BaselineStartError) return undefined;
    throw error;
  }
  try {
    return await runBroadcastLoad(context, {
      generator: variant.generator,
      flags: [
        "--url",
        peer.url,
        "--mode",
        "broadcast",
        "--connections",
        String(members),
        "--window",
        String(WINDOW),
        ...peer.extraFlags,
      ],
      watch: peer.pids,
      slackMs: 120_000,
      noun: "broadcasts",
    });
  } finally {
    await peer.stop();
  }
}

/** The group-broadcast scenario. */
export const broadcast: Scenario = {
  name: "broadcast",
  description: "group broadcast: one group, messages delivered per second at its members",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const members = context.quick ? QUICK_MEMBERS : FULL_MEMBERS;
    context.note(
      `broadcast: ${members} members, ${WINDOW} broadcasts in flight for both; ours = echo_push → ` +
        `one ss_msg_push to every member (to become cs_msg_group_send with the group service), ` +
        `gate with --rate 1000000 --burst 1000000; p50/p99 = time from send until every member ` +
        `has the message. Our sender uses the gate's framed TCP (its request names every ` +
        `member: ~${Math.round(members * 5.5 / 1000)} KB, which Deno's WebSocket client would ` +
        `hold ~40 ms for a delayed ACK); the members are WebSocket clients. Ours runs twice: with ` +
        `the echo service linked over WebSocket (the default) and over framed TCP. Each ` +
        `one-process load generator nears a full core here, so deliveries/s also measure the ` +
        `receiving clients; 'server CPU per delivery' (gate + echo, or the Socket.IO server; ` +
        `lower is better, no target) compares the servers alone.`,
    );
    const { rounds, measurements } = await measureRounds(context, {
      scenario: "broadcast",
      variants: VARIANTS,
      members,
      measure: (variant) => measure(context, variant, members),
    });
    const median = (key: string) => medianReport(rounds.get(key)!);
    // Undefined when Socket.IO failed to start: the rows then say so.
    const socketio = rounds.get("socketio")!.length ? median("socketio") : undefined;
    const others = socketio ? [socketio] : [];
    const rows: Row[] = [
      { key: "ours-link-ws", name: "service link ws" },
      { key: "ours-link-tcp", name: "service link tcp" },
    ].map(({ key, name }) => {
      const ours = median(key);
      return judge({
        scenario: `broadcast ${members.toLocaleString("en-US")} members, ${name}`,
        unit: "deliveries/s",
        ours: ours.result.throughput,
        baselineName: "Socket.IO",
        baseline: socketio?.result.throughput,
        baselineFailed: socketio ? undefined : true,
        oursLatency: latencyOf(ours),
        baselineLatency: socketio && latencyOf(socketio),
        target: { kind: "ratio-at-least", value: 1.0 },
        disturbed: disturbed(ours, ...others),
      });
    });
    // The servers' CPU per delivery: at 1,000 members each one-process load generator is near a
    // full core, so deliveries per second also measure the receiving clients.
    const serverMicros = (report: LoadReport) => {
      const cores = Object.entries(report.cpuCores)
        .filter(([role]) => !["load", "other", "irq"].includes(role))
        .reduce((sum, [, value]) => sum + value, 0);
      return report.result.throughput > 0 ? (cores / report.result.throughput) * 1e6 : 0;
    };
    for (
      const { key, name } of [
        { key: "ours-link-ws", name: "service link ws" },
        { key: "ours-link-tcp", name: "service link tcp" },
      ]
    ) {
      const ours = median(key);
      rows.push(judge({
        scenario: `broadcast server CPU per delivery, ${name}`,
        unit: "µs",
        ours: serverMicros(ours),
        baselineName: "Socket.IO",
        baseline: socketio && serverMicros(socketio),
        baselineFailed: socketio ? undefined : true,
        disturbed: disturbed(ours, ...others),
      }));
    }
    return { rows, measurements };
  },
};
