/**
 * The group service as two instances on one gate (route by key): every group is reachable
 * whichever instance holds it, a group id is unique across instances, `cs_msg_group_list`
 * gathers from both, and an instance killed takes only its own groups, whose members are told.
 */

import assert from "node:assert/strict";
import { type GateClient, State } from "../../client/mod.ts";
import { GroupCmd } from "../../shared/mod.ts";
import { groupsOnEach, startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin } from "../helpers/login.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { type GateProcess, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

async function withSuite(
  fn: (suite: {
    gate: GateProcess;
    instances: RunningProcess[];
    client: (prefix: string) => Promise<GateClient>;
  }) => Promise<void>,
): Promise<void> {
  const gate = await startGate();
  const services: RunningProcess[] = [];
  const clients: GateClient[] = [];
  try {
    services.push(await startLogin(gate));
    const instances = [await startGroup(gate), await startGroup(gate)];
    services.push(...instances);
    await fn({
      gate,
      instances,
      client: async (prefix) => {
        const { client } = await loggedInClient(gate.wsUrl, prefix);
        clients.push(client);
        return client;
      },
    });
  } finally {
    for (const client of clients) client.close();
    for (const service of services) await service.stop();
    await gate.stop();
  }
}

Deno.test({
  name: "group instances: groups on both instances are reachable, and the list gathers both",
  ...INTEGRATION,
  async fn() {
    await withSuite(async ({ instances, client }) => {
      const owner = await client("own");
      const byInstance = await groupsOnEach(owner, instances, "both");
      const other = await client("oth");
      const received: unknown[] = [];
      owner.on(GroupCmd.MSG, (data) => received.push(data));
      const joined: string[] = [];
      for (const [a] of byInstance) {
        // Routed by groupId: join, send, members and leave all reach the instance holding it.
        const join = await other.requestOk<{ members: unknown[] }>(GroupCmd.JOIN, a);
        assert.equal(join.members.length, 2);
        joined.push(a.groupId);
        const sent = await other.requestOk<{ reached: number }>(GroupCmd.SEND, {
          groupId: a.groupId,
          data: { hello: a.groupId },
        });
        assert.equal(sent.reached, 1);
      }
      await waitFor(() => received.length === byInstance.length, { what: "both messages" });
      const list = await other.requestOk<{ groups: { groupId: string; members: number }[] }>(
        GroupCmd.LIST,
        {},
      );
      assert.deepEqual(list.groups.map((g) => g.groupId).sort(), joined.sort());
      const ownerList = await owner.requestOk<{ groups: { groupId: string }[] }>(
        GroupCmd.LIST,
        {},
      );
      assert.equal(ownerList.groups.length, byInstance.flat().length);
      // An id held by one instance is refused whichever instance the create reaches.
      for (let i = 0; i < 4; i++) {
        const again = await other.request(GroupCmd.CREATE, { groupId: joined[0] });
        assert.equal(again.state, State.FAIL);
        assert.equal(again.msg, `Group ${joined[0]} already exists`);
      }
      const unknown = await other.request(GroupCmd.JOIN, { groupId: "nosuchgroup", key: "k" });
      assert.equal(unknown.state, State.FAIL);
      assert.equal(unknown.msg, "No group nosuchgroup");
      // A dismissed group's id is free again.
      const dismissed = byInstance[1][0].groupId;
      await owner.requestOk(GroupCmd.DISMISS, { groupId: dismissed });
      await owner.requestOk(GroupCmd.CREATE, { groupId: dismissed });
    });
  },
});

Deno.test({
  name: "group instances: a killed instance's groups answer No group at once, members are told",
  ...INTEGRATION,
  async fn() {
    await withSuite(async ({ instances, client }) => {
      const owner = await client("kil");
      const byInstance = await groupsOnEach(owner, instances, "kill");
      const member = await client("mem");
      for (const group of byInstance.flat()) await member.requestOk(GroupCmd.JOIN, group);
      const dismissals: { groupId: string; byClientId: number; reason?: string }[] = [];
      member.on(GroupCmd.DISMISSED, (data) => dismissals.push(data as typeof dismissals[0]));
      const lost = byInstance[0].map((g) => g.groupId);
      const kept = byInstance[1].map((g) => g.groupId);
      instances[0].kill("SIGKILL");
      const killedAt = Date.now();
      await waitFor(() => dismissals.length === lost.length, {
        what: "sc_msg_group_dismiss for every lost group",
        timeoutMs: 3000,
      });
      assert.deepEqual(dismissals.map((d) => d.groupId).sort(), [...lost].sort());
      for (const dismissal of dismissals) {
        assert.equal(dismissal.byClientId, 0);
        assert.equal(dismissal.reason, "The group's service instance stopped");
      }
      for (const groupId of lost) {
        const answer = await member.request(GroupCmd.SEND, { groupId, data: 1 });
        assert.equal(answer.state, State.FAIL);
        assert.equal(answer.msg, `No group ${groupId}`);
      }
      assert.ok(Date.now() - killedAt < 3000, "No group within 3 s");
      // The other instance's groups go on.
      for (const groupId of kept) {
        const sent = await member.requestOk<{ reached: number }>(GroupCmd.SEND, {
          groupId,
          data: 2,
        });
        assert.equal(sent.reached, 1);
      }
      const list = await member.requestOk<{ groups: { groupId: string }[] }>(GroupCmd.LIST, {});
      assert.deepEqual(list.groups.map((g) => g.groupId).sort(), [...kept].sort());
      // The lost ids can be created again (now on the instance left).
      for (const groupId of lost) await owner.requestOk(GroupCmd.CREATE, { groupId });
    });
  },
});
