/**
 * Cross-gate group broadcast (issue 16): one group whose members are spread over two gates
 * joined over a local `nats-server`, each gate with a login and a group instance (route by key:
 * the group lives in one of them); one sender on gate A sends `cs_msg_group_send`, keeping a few
 * messages in flight; messages delivered per second at the members. Against the same on one gate
 * (one login, one group instance), in the same run. One load-generator process (Deno, our
 * `GateClient`, bench/load/group_load.ts) holds every member. No target: the row shows what the
 * second gate costs a broadcast. Skipped with a note row when `nats-server` is not on PATH.
 *
 * @module
 */

import { type RunningProcess, startProcess } from "../../tests/helpers/process.ts";
import { hasNatsServer, startNatsServer } from "../lib/cluster.ts";
import { latencyOf, measureRounds, runBroadcastLoad } from "../lib/broadcast_load.ts";
import { disturbed, type LoadReport, medianReport } from "../lib/load.ts";
import { track } from "../lib/proc.ts";
import { type OursPeer, type Peer, startOurs, UNLIMITED_RATE } from "../lib/servers.ts";
import {
  type BenchContext,
  judge,
  type Row,
  type Scenario,
  type ScenarioResult,
} from "../lib/types.ts";

const FULL_MEMBERS = 1000;
const QUICK_MEMBERS = 200;
/** Messages in flight at once. */
const WINDOW = 4;

/** A gate with a login and a group instance linked over framed TCP. */
async function gateWithGroups(
  context: BenchContext,
  options: { dataDir?: string; gateFlags?: string[]; name: string },
): Promise<OursPeer> {
  const gate = await startOurs(context, {
    echo: false,
    dataDir: options.dataDir,
    gateFlags: [...UNLIMITED_RATE, ...(options.gateFlags ?? [])],
  });
  const services: { service: RunningProcess; forget: () => void }[] = [];
  try {
    // The group holds the members and the sender: one more than the group service's default cap
    // at the full run's 1,000 members.
    const groupFlags = ["--max-members", String(FULL_MEMBERS + 1)];
    for (
      const [task, flags] of [["login", ["--hash-cost", "test"]], ["group", groupFlags]] as const
    ) {
      const service = await startProcess({
        task,
        args: [
          "--gate",
          gate.tcpUrl,
          "--data-dir",
          gate.dataDir,
          "--name",
          `bench-${task}-${options.name}`,
          ...flags,
        ],
        ready: /registered gate=/,
      });
      services.push({ service, forget: track(() => service.kill()) });
    }
  } catch (error) {
    for (const { service } of services) await service.stop();
    await gate.stop();
    throw error;
  }
  const [login, group] = services;
  return {
    ...gate,
    pids: { ...gate.pids, login: login.service.child.pid, group: group.service.child.pid },
    async stop() {
      for (const { service, forget } of services.reverse()) {
        await service.stop();
        forget();
      }
      await gate.stop();
    },
  };
}

interface Variant {
  key: string;
  label: string;
  start(context: BenchContext, natsUrl: string): Promise<Peer & { urls: string[] }>;
}

const VARIANTS: Variant[] = [
  {
    key: "single",
    label: "one gate, one login and one group instance",
    start: async (context) => {
      const gate = await gateWithGroups(context, { name: "single" });
      return { ...gate, urls: [gate.wsUrl] };
    },
  },
  {
    key: "cluster",
    label: "two gates over NATS, a login and a group instance on each, members on both",
    start: async (context, natsUrl) => {
      const dataDir = await context.tempDir();
      const cluster = (id: string) => ["--cluster", natsUrl, "--gate-id", id];
      const a = await gateWithGroups(context, { dataDir, gateFlags: cluster("a"), name: "a" });
      let b: OursPeer;
      try {
        b = await gateWithGroups(context, { dataDir, gateFlags: cluster("b"), name: "b" });
      } catch (error) {
        await a.stop();
        throw error;
      }
      // Each gate announces its links at once; give the announcements a moment.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const pids: Record<string, number> = {};
      for (const [name, peer] of [["A", a], ["B", b]] as const) {
        for (const [role, pid] of Object.entries(peer.pids)) pids[`${role}${name}`] = pid;
      }
      return {
        urls: [a.wsUrl, b.wsUrl],
        pids,
        async stop() {
          await a.stop();
          await b.stop();
        },
      };
    },
  },
];

/** One run of `variant`, watching its servers and the nats-server (`nats`: role → pid). */
async function measure(
  context: BenchContext,
  variant: Variant,
  natsUrl: string,
  nats: Record<string, number>,
  members: number,
): Promise<LoadReport> {
  const peer = await variant.start(context, natsUrl);
  try {
    return await runBroadcastLoad(context, {
      generator: "group",
      flags: [
        "--urls",
        peer.urls.join(","),
        "--members",
        String(members),
        "--window",
        String(WINDOW),
      ],
      watch: { ...peer.pids, ...nats },
      slackMs: 180_000,
      noun: "messages",
    });
  } finally {
    await peer.stop();
  }
}

/** The cross-gate group broadcast scenario. */
export const crossgate: Scenario = {
  name: "crossgate",
  description: "cross-gate group broadcast: one group, members on two gates, deliveries/s",
  async run(context: BenchContext): Promise<ScenarioResult> {
    const members = context.quick ? QUICK_MEMBERS : FULL_MEMBERS;
    if (!(await hasNatsServer())) {
      context.step("skipped: nats-server is not on PATH");
      context.note("crossgate: SKIPPED, nats-server is not on PATH; the row shows 0.");
      return {
        rows: [{ scenario: "crossgate (skipped: no nats-server)", unit: "deliveries/s", ours: 0 }],
        measurements: [],
      };
    }
    context.note(
      `crossgate: one group of ${members} logged-in members and one sender (group_load.ts, one ` +
        `Deno process, GateClient over WebSocket), ${WINDOW} cs_msg_group_send in flight; a ` +
        `message is done when the sender's answer came and every member got it (p50/p99). ` +
        `Cluster: two gates over one local nats-server, a login and a group instance on each ` +
        `(linked over tcp://), members alternating between the gates, the sender on gate A; ` +
        `the group lives in whichever instance took the create, its gate pushes to the members ` +
        `on the other gate with one NATS message per broadcast. Baseline: one gate with one ` +
        `login and one group instance, in the same run. The load generator nears a full core, ` +
        `so deliveries/s also measure the receiving clients.`,
    );
    const nats = await startNatsServer();
    const { rounds, measurements } = await measureRounds(context, {
      scenario: "crossgate",
      variants: VARIANTS,
      members,
      measure: (variant) => measure(context, variant, nats.url, nats.pids, members),
    }).finally(() => nats.stop());
    const ours = medianReport(rounds.get("cluster")!);
    const single = medianReport(rounds.get("single")!);
    const rows: Row[] = [
      judge({
        scenario: `cross-gate group broadcast ${members.toLocaleString("en-US")} members, 2 gates`,
        unit: "deliveries/s",
        ours: ours.result.throughput,
        baselineName: "one gate",
        baseline: single.result.throughput,
        oursLatency: latencyOf(ours),
        baselineLatency: latencyOf(single),
        disturbed: disturbed(ours, single),
      }),
    ];
    return { rows, measurements };
  },
};
