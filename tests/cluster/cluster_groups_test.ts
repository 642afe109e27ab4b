/**
 * Groups across N instances on N gates (route by key, PROTOCOL.md section 4): a group is
 * reachable from every gate, an id is unique across the cluster, `cs_msg_group_list` gathers
 * every instance, and an instance (or a whole gate) that dies takes only its own groups, whose
 * members are told and whose ids can be created again.
 */

import assert from "node:assert/strict";
import { type GateClient, State } from "../../client/mod.ts";
import { GroupCmd, LoginCmd } from "../../shared/mod.ts";
import { type CreatedGroup, groupsOnEach, startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin } from "../helpers/login.ts";
import { type NatsServer, natsServerTool, startNats } from "../helpers/nats.ts";
import { startTcpProxy } from "../helpers/tcp_proxy.ts";
import type { RunningProcess } from "../helpers/process.ts";
import {
  delay,
  type GateProcess,
  INTEGRATION,
  startGate,
  waitFor,
  waitServed,
} from "../helpers/suite.ts";

const natsServer = natsServerTool();

interface Cluster {
  nats: NatsServer;
  gates: GateProcess[];
  /** One group instance per gate, in the gates' order. */
  instances: RunningProcess[];
  /** A logged-in client on gate `i`. */
  client(i: number, prefix: string): Promise<GateClient>;
}

/** Two gates over one NATS, a login instance and a group instance on each. */
async function withCluster(fn: (cluster: Cluster) => Promise<void>): Promise<void> {
  const nats = await startNats();
  const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
  const gates = await Promise.all(["a", "b"].map((id) =>
    startGate({
      dataDir,
      flags: ["--cluster", nats.url, "--gate-id", id, "--request-timeout-ms", "3000"],
    })
  ));
  const services: RunningProcess[] = [];
  const clients: GateClient[] = [];
  try {
    for (const gate of gates) services.push(await startLogin(gate));
    const instances = [];
    for (const gate of gates) instances.push(await startGroup(gate));
    services.push(...instances);
    for (const gate of gates) {
      await waitServed(gate, LoginCmd.LOGIN);
      await waitServed(gate, GroupCmd.LIST);
    }
    // A gate announces a new link at once; give the announcements a moment to arrive.
    await delay(300);
    await fn({
      nats,
      gates,
      instances,
      client: async (i, prefix) => {
        const { client } = await loggedInClient(gates[i].wsUrl, prefix);
        clients.push(client);
        return client;
      },
    });
  } finally {
    for (const client of clients) client.close();
    for (const service of services) await service.stop();
    for (const gate of gates) await gate.stop();
    await nats.stop();
  }
}

Deno.test({
  name: "cluster groups: groups on both gates' instances are reachable from both gates",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withCluster(async ({ instances, client }) => {
      const owner = await client(0, "owa");
      const byInstance = await groupsOnEach(owner, instances, "reach");
      const groups = byInstance.map((g) => g[0]);
      const member = await client(1, "mmb");
      const heard: string[] = [];
      owner.on(GroupCmd.MSG, (data) => heard.push((data as { groupId: string }).groupId));
      for (const group of groups) {
        const joined = await member.requestOk<{ members: { clientId: number }[] }>(
          GroupCmd.JOIN,
          group,
        );
        assert.equal(joined.members.length, 2);
        const sent = await member.requestOk<{ reached: number }>(GroupCmd.SEND, {
          groupId: group.groupId,
          data: "hi",
        });
        assert.equal(sent.reached, 1);
        const members = await owner.requestOk<{ members: unknown[] }>(GroupCmd.MEMBERS, {
          groupId: group.groupId,
        });
        assert.equal(members.members.length, 2);
      }
      await waitFor(() => heard.length === groups.length, { what: "both messages" });
      assert.deepEqual(heard.sort(), groups.map((g) => g.groupId).sort());
      // The list gathers every instance, from either gate.
      const list = await member.requestOk<{ groups: { groupId: string }[] }>(GroupCmd.LIST, {});
      assert.deepEqual(
        list.groups.map((g) => g.groupId).sort(),
        groups.map((g) => g.groupId).sort(),
      );
      const ownerList = await owner.requestOk<{ groups: unknown[] }>(GroupCmd.LIST, {});
      assert.equal(ownerList.groups.length, byInstance.flat().length);
      const unknown = await member.request(GroupCmd.JOIN, { groupId: "nosuchgroup", key: "k" });
      assert.equal(unknown.state, State.FAIL);
      assert.equal(unknown.msg, "No group nosuchgroup");
    });
  },
});

Deno.test({
  name: "cluster groups: one id created on two gates at once gets exactly one OK",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withCluster(async ({ client }) => {
      const a = await client(0, "dua");
      const b = await client(1, "dub");
      for (let round = 0; round < 20; round++) {
        const groupId = `same${round}`;
        const answers = await Promise.all([
          a.request(GroupCmd.CREATE, { groupId }),
          b.request(GroupCmd.CREATE, { groupId }),
        ]);
        const ok = answers.filter((r) => r.state === State.OK);
        assert.equal(ok.length, 1, `round ${round}: ${JSON.stringify(answers)}`);
        const refused = answers.find((r) => r.state !== State.OK)!;
        assert.equal(refused.state, State.FAIL);
        assert.equal(refused.msg, `Group ${groupId} already exists`);
      }
    });
  },
});

Deno.test({
  name: "cluster groups: a SIGKILLed instance's groups answer No group within 3 s on every gate",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withCluster(async ({ instances, client }) => {
      const owner = await client(0, "kio");
      const byInstance = await groupsOnEach(owner, instances, "kill");
      const members = [await client(0, "kma"), await client(1, "kmb")];
      const dismissals: { groupId: string; reason?: string }[][] = [[], []];
      for (const [i, member] of members.entries()) {
        for (const group of byInstance.flat()) await member.requestOk(GroupCmd.JOIN, group);
        member.on(GroupCmd.DISMISSED, (data) => dismissals[i].push(data as { groupId: string }));
      }
      const lost = byInstance[1].map((g) => g.groupId).sort();
      const kept = byInstance[0].map((g) => g.groupId).sort();
      instances[1].kill("SIGKILL");
      const killedAt = Date.now();
      // Members on both gates are told, by the gate the instance was linked to.
      for (const [i] of members.entries()) {
        await waitFor(() => dismissals[i].length === lost.length, {
          what: `sc_msg_group_dismiss on gate ${i}`,
          timeoutMs: 3000,
        });
        assert.deepEqual(dismissals[i].map((d) => d.groupId).sort(), lost);
        assert.ok(dismissals[i].every((d) => d.reason === "The group's service instance stopped"));
      }
      // Every gate answers No group for them within 3 s of the kill.
      for (const member of members) {
        for (const groupId of lost) {
          await waitFor(async () => {
            const answer = await member.request(GroupCmd.SEND, { groupId, data: 1 });
            return answer.state === State.FAIL && answer.msg === `No group ${groupId}`;
          }, { what: `No group ${groupId}`, timeoutMs: 3000 - (Date.now() - killedAt) });
        }
      }
      assert.ok(Date.now() - killedAt < 3000, "No group within 3 s");
      // The other instance's groups go on, from both gates.
      for (const member of members) {
        for (const groupId of kept) {
          const sent = await member.requestOk<{ reached: number }>(GroupCmd.SEND, {
            groupId,
            data: 2,
          });
          assert.equal(sent.reached, 2);
        }
        const list = await member.requestOk<{ groups: { groupId: string }[] }>(GroupCmd.LIST, {});
        assert.deepEqual(list.groups.map((g) => g.groupId).sort(), kept);
      }
      // The ids can be created again, from either gate.
      for (const [i, groupId] of lost.entries()) {
        await members[i % 2].requestOk(GroupCmd.CREATE, { groupId });
      }
    });
  },
});

Deno.test({
  name: "cluster groups: a SIGKILLed gate's groups end for the members on the other gate",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withCluster(async ({ gates, instances, client }) => {
      const owner = await client(0, "gdo");
      const byInstance = await groupsOnEach(owner, instances, "gate");
      const dismissed: string[] = [];
      owner.on(GroupCmd.DISMISSED, (data) => dismissed.push((data as { groupId: string }).groupId));
      const lost = byInstance[1].map((g) => g.groupId).sort();
      gates[1].kill("SIGKILL");
      const killedAt = Date.now();
      // Found down after 3 s without its announcement; then its keys are released.
      await waitFor(() => dismissed.length === lost.length, {
        what: "sc_msg_group_dismiss for the dead gate's groups",
        timeoutMs: 8000,
      });
      assert.deepEqual(dismissed.sort(), lost);
      for (const groupId of lost) {
        const answer = await owner.request(GroupCmd.SEND, { groupId, data: 1 });
        assert.equal(answer.state, State.FAIL);
        assert.equal(answer.msg, `No group ${groupId}`);
        await owner.requestOk(GroupCmd.CREATE, { groupId });
      }
      console.log(`groups of a dead gate released after ${Date.now() - killedAt} ms`);
      for (const group of byInstance[0]) {
        await owner.requestOk(GroupCmd.MEMBERS, { groupId: group.groupId });
      }
    });
  },
});

Deno.test({
  name: "cluster groups: a gate cut off from NATS has its groups released, and back claims them",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    // Gate B reaches NATS only through a proxy the test can cut.
    const proxy = startTcpProxy(nats.port);
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
    const flags = (url: string, id: string) => [
      "--cluster",
      url,
      "--gate-id",
      id,
      "--request-timeout-ms",
      "3000",
    ];
    const a = await startGate({ dataDir, flags: flags(nats.url, "1") });
    const b = await startGate({ dataDir, flags: flags(`nats://127.0.0.1:${proxy.port}`, "2") });
    const services: RunningProcess[] = [];
    let owner: GateClient | undefined;
    try {
      services.push(await startLogin(a), await startGroup(b));
      await waitServed(a, GroupCmd.LIST);
      const client = (await loggedInClient(a.wsUrl, "cut")).client;
      owner = client;
      // The only group instance is on gate B: the group lives there.
      const created = await client.requestOk<CreatedGroup>(GroupCmd.CREATE, { groupId: "cutroom" });
      const dismissed: string[] = [];
      client.on(GroupCmd.DISMISSED, (data) => dismissed.push((data as CreatedGroup).groupId));
      proxy.cut();
      // Gate A declares B down after 3 s without its heartbeat and releases B's keys.
      await waitFor(() => dismissed.length === 1, {
        what: "the dismiss push for B's group",
        timeoutMs: 15_000,
      });
      assert.deepEqual(dismissed, [created.groupId]);
      proxy.restore();
      // Back on NATS, B starts a new run, keeps its link and claims its key again.
      await waitFor(() => b.lines.some((l) => l.includes("declared down by the cluster")), {
        what: "gate B renewed",
        timeoutMs: 15_000,
      });
      await waitFor(async () => {
        const r = await client.request(GroupCmd.MEMBERS, { groupId: created.groupId });
        return r.state === State.OK;
      }, { what: "the group reachable again from gate A", timeoutMs: 15_000 });
      // The id is the instance's again, in the cluster's directory: a create that reaches a
      // group instance on gate A is refused too.
      services.push(await startGroup(a));
      await delay(300);
      for (let i = 0; i < 4; i++) {
        const again = await client.request(GroupCmd.CREATE, { groupId: created.groupId });
        assert.deepEqual([again.state, again.msg], [
          State.FAIL,
          `Group ${created.groupId} already exists`,
        ]);
      }
      const fresh = await client.requestOk<CreatedGroup>(GroupCmd.CREATE, {});
      await client.requestOk(GroupCmd.MEMBERS, { groupId: fresh.groupId });
    } finally {
      owner?.close();
      for (const service of services) await service.stop();
      await a.stop();
      await b.stop();
      proxy.close();
      await nats.stop();
    }
  },
});
