import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { GroupCmd, LoginCmd } from "../../shared/mod.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
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

/** Starts gates joined over one NATS server, sharing a data dir (and so the service key). */
async function startCluster(ids: string[], nats: string): Promise<GateProcess[]> {
  const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
  return await Promise.all(ids.map((id) =>
    startGate({
      dataDir,
      flags: ["--cluster", nats, "--gate-id", id, "--request-timeout-ms", "3000"],
    })
  ));
}

Deno.test({
  name: "cluster: a second login on gate B kicks the session on gate A",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const [a, b] = await startCluster(["a", "b"], nats.url);
    const services: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      services.push(await startLogin(a));
      await waitServed(b, LoginCmd.LOGIN);
      const first = await loggedInClient(a.wsUrl, "kick");
      clients.push(first.client);
      const kicked: unknown[] = [];
      first.client.on("sc_msg_kicked", (data) => kicked.push(data));
      const second = new GateClient({ url: b.tcpUrl, reconnect: false });
      clients.push(second);
      await second.connect();
      const login = await second.login({ username: first.username, password: TEST_PASSWORD });
      assert.equal(login.userId, first.userId);
      await waitFor(() => kicked.length === 1, { what: "sc_msg_kicked on gate A" });
      const after = await first.client.request(LoginCmd.CHANGE_PW, {
        password: TEST_PASSWORD,
        newPassword: "another123",
      });
      assert.equal(after.state, State.NOT_LOGGED_IN);
      // The session on gate B is the one that is logged in.
      const change = await second.request(LoginCmd.CHANGE_PW, {
        password: TEST_PASSWORD,
        newPassword: "another123",
      });
      assert.equal(change.state, State.OK);
    } finally {
      for (const client of clients) client.close();
      for (const service of services) await service.stop();
      for (const gate of [a, b]) await gate.stop();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "cluster: a group with members on three gates delivers each message to each member once",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const gates = await startCluster(["a", "b", "c"], nats.url);
    const services: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      services.push(await startLogin(gates[0]));
      services.push(await startGroup(gates[1]));
      for (const gate of gates) {
        await waitServed(gate, LoginCmd.LOGIN);
        await waitServed(gate, GroupCmd.LIST);
      }
      const members = [];
      for (const [i, gate] of gates.entries()) {
        const member = await loggedInClient(i === 1 ? gate.tcpUrl : gate.wsUrl, `g${i}`);
        clients.push(member.client);
        members.push(member);
      }
      const created = await members[0].client.requestOk<{ groupId: string; key: string }>(
        GroupCmd.CREATE,
        {},
      );
      for (const member of members.slice(1)) {
        await member.client.requestOk(GroupCmd.JOIN, {
          groupId: created.groupId,
          key: created.key,
        });
      }
      const received: unknown[][] = members.map(() => []);
      members.forEach((member, i) =>
        member.client.on(GroupCmd.MSG, (data) => received[i].push(data))
      );
      for (const [i, member] of members.entries()) {
        await member.client.requestOk(GroupCmd.SEND, {
          groupId: created.groupId,
          data: { from: i },
        });
      }
      await waitFor(() => received.every((messages) => messages.length === 2), {
        what: "every member's two messages",
      });
      await delay(1500); // a duplicate would arrive in this time, even on a loaded machine
      // Members bound on gates b and c by the login service on a (a bind control message) are
      // shown by their usernames: the bind carried them.
      const list = await members[2].client.requestOk<{ members: { name?: string }[] }>(
        GroupCmd.MEMBERS,
        { groupId: created.groupId },
      );
      assert.deepEqual(list.members.map((m) => m.name), members.map((m) => m.username));
      for (const messages of received) {
        for (const m of messages as { fromName: string; data: { from: number } }[]) {
          assert.equal(m.fromName, members[m.data.from].username);
        }
      }
      for (const [i, messages] of received.entries()) {
        const froms = messages.map((m) => (m as { data: { from: number } }).data.from).sort();
        assert.deepEqual(
          froms,
          [0, 1, 2].filter((n) => n !== i),
          `member ${i} got ${JSON.stringify(froms)}`,
        );
      }
    } finally {
      for (const client of clients) client.close();
      for (const service of services) await service.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "cluster: after gate B is killed, its clients reconnect to A and are logged in again",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const [a, b] = await startCluster(["a", "b"], nats.url);
    const services: RunningProcess[] = [];
    let client: GateClient | undefined;
    try {
      services.push(await startLogin(a));
      await waitServed(b, LoginCmd.LOGIN);
      client = new GateClient({ url: [b.wsUrl, a.wsUrl], backoffMaxMs: 200 });
      await client.connect();
      const username = uniqueName("move");
      await client.register({ username, password: TEST_PASSWORD });
      const login = await client.login({ username, password: TEST_PASSWORD });
      const inFlight = client.request(LoginCmd.LOGIN_BY_TOKEN, { token: login.token }).then(
        (r) => `state ${r.state}`,
        (e) => e.name,
      );
      b.kill("SIGKILL");
      const outcome = await inFlight;
      assert.ok(/^state \d+$|^ConnectionLostError$/.test(outcome), outcome);
      await waitFor(() => client!.state === "connected" && client!.url === a.wsUrl, {
        what: "the client on gate A",
      });
      await waitFor(() => client!.loggedIn, { what: "logged in again by token" });
      assert.equal(client.userId, login.userId);
      const check = await client.request(LoginCmd.CHANGE_PW, {
        password: TEST_PASSWORD,
        newPassword: "moved12345",
      });
      assert.equal(check.state, State.OK, "the gate knows the user again");
    } finally {
      client?.close();
      for (const service of services) await service.stop();
      await a.stop();
      b.kill("SIGKILL");
      await nats.stop();
    }
  },
});
