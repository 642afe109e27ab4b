/**
 * The reconnect grace period across gates (issue 16): a member of a group served through gate A
 * whose socket drops logs in again by token on gate B of the same cluster, within the grace
 * period, and is back in its group. The group service hears the login on gate B through the
 * cluster's client-event stream (`ss_msg_user_bind`). A login that comes before the old
 * connection is seen to drop unbinds it (`ss_msg_user_unbind`, on the same stream) and takes the
 * place at once. Needs nats-server: without it the test is
 * ignored with a line saying so, unless CI is set, when it fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { GroupCmd, LoginCmd } from "../../shared/mod.ts";
import type {
  GroupCreated,
  GroupInfo,
  GroupListEntry,
  GroupMessagePush,
} from "../../shared/group_messages.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin } from "../helpers/login.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { INTEGRATION, startGate, waitFor, waitServed } from "../helpers/suite.ts";

const natsServer = natsServerTool();

Deno.test({
  name: "group grace: a member dropped on gate A is back in its group after a login on gate B",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_grace_" });
    const [a, b] = await Promise.all(["a", "b"].map((id) =>
      startGate({
        dataDir,
        flags: ["--cluster", nats.url, "--gate-id", id, "--request-timeout-ms", "3000"],
      })
    ));
    const services: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      services.push(await startLogin(a));
      services.push(await startGroup(a, { flags: ["--reconnect-grace-ms", "20000"] }));
      await waitServed(b, LoginCmd.LOGIN_BY_TOKEN);
      await waitServed(b, GroupCmd.LIST);

      const alice = await loggedInClient(a.tcpUrl, "gracea");
      const bob = await loggedInClient(a.wsUrl, "graceb");
      clients.push(alice.client, bob.client);
      const pushes: Array<{ cmd: string; data: Record<string, unknown> }> = [];
      for (const cmd of [GroupCmd.AWAY, GroupCmd.BACK, GroupCmd.LEFT]) {
        bob.client.on<Record<string, unknown>>(cmd, (data) => pushes.push({ cmd, data }));
      }
      const created = await alice.client.request<GroupCreated>(GroupCmd.CREATE, {});
      assert.equal(created.state, State.OK, created.msg);
      const { groupId, key, owner } = created.data;
      const joined = await bob.client.request(GroupCmd.JOIN, { groupId, key });
      assert.equal(joined.state, State.OK, joined.msg);

      const token = alice.client.token!;
      alice.client.close();
      await waitFor(() => pushes.some((p) => p.cmd === GroupCmd.AWAY), { what: "the away push" });

      const again = new GateClient({ url: b.wsUrl, reconnect: false, token });
      clients.push(again);
      await again.connect();
      assert.equal(again.userId, alice.userId, "logged in by token on gate B");
      const messages: GroupMessagePush[] = [];
      again.on<GroupMessagePush>(GroupCmd.MSG, (push) => messages.push(push));
      await waitFor(() => pushes.some((p) => p.cmd === GroupCmd.BACK), { what: "the back push" });
      const back = pushes.find((p) => p.cmd === GroupCmd.BACK)!.data;
      assert.equal(back.userId, alice.userId);
      assert.equal(back.previousClientId, owner.clientId);
      assert.notEqual(back.clientId, owner.clientId);
      assert.deepEqual(back.owner, {
        userId: alice.userId,
        clientId: back.clientId,
        name: alice.username,
      });

      const listed = await again.request<{ groups: GroupListEntry[] }>(GroupCmd.LIST);
      assert.equal(listed.state, State.OK, listed.msg);
      assert.deepEqual(listed.data.groups.map((g) => [g.groupId, g.isOwner, g.members]), [
        [groupId, true, 2],
      ]);
      const members = await again.request<GroupInfo>(GroupCmd.MEMBERS, { groupId });
      assert.deepEqual(members.data.members.map((m) => [m.userId, m.clientId]), [
        [alice.userId, back.clientId],
        [bob.userId, members.data.members[1].clientId],
      ]);
      const sent = await bob.client.request(GroupCmd.SEND, { groupId, data: "across gates" });
      assert.equal(sent.state, State.OK, sent.msg);
      await waitFor(() => messages.length === 1, { what: "the message on gate B" });
      assert.equal(messages[0].data, "across gates");
      assert.equal(pushes.filter((p) => p.cmd === GroupCmd.LEFT).length, 0, "no one left");

      // A login on gate A while the connection on gate B is still open (its drop not seen yet):
      // the login logs B's connection out (the unbind travels to gate A's group service on the
      // client event stream: away), then binds the new one (back there, in its place).
      const third = new GateClient({ url: a.tcpUrl, reconnect: false, token });
      clients.push(third);
      const kicked: unknown[] = [];
      again.on("sc_msg_kicked", (data) => kicked.push(data));
      await third.connect();
      await waitFor(() => kicked.length === 1, { what: "the kick of the connection on gate B" });
      await waitFor(() => pushes.filter((p) => p.cmd === GroupCmd.BACK).length === 2, {
        what: "the second back push",
      });
      const moved = pushes.filter((p) => p.cmd === GroupCmd.BACK)[1].data;
      assert.equal(moved.previousClientId, back.clientId);
      assert.equal((moved.owner as { clientId: number }).clientId, moved.clientId);
      assert.deepEqual(
        pushes.filter((p) => p.cmd === GroupCmd.AWAY).map((p) => p.data.clientId),
        [owner.clientId, back.clientId],
        "away at the drop, then at the unbind of the connection on gate B",
      );
      again.close();
      const mine = await third.request<{ groups: GroupListEntry[] }>(GroupCmd.LIST);
      assert.deepEqual(mine.data.groups.map((g) => [g.groupId, g.isOwner]), [[groupId, true]]);
    } finally {
      for (const client of clients) client.close();
      await Promise.all(services.map((s) => s.stop()));
      await Promise.all([a.stop(), b.stop()]);
      await nats.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
