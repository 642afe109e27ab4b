/**
 * The reconnect grace period (issue 16, "A member keeps its place across a reconnect") through a
 * real gate, login and group service: a member whose socket is closed abruptly and who logs in
 * again by token on a new connection within the grace period is back in its group (the next
 * message reaches it, it is among the members, it still owns the group); a stranger logging in
 * meanwhile cannot take the place; after the grace period it is gone; a member that logged out
 * (or deleted its account) is away from then on, as if its connection had dropped (the gate's
 * `ss_msg_user_unbind`), and the close of its connection changes nothing more.
 *
 * The dropped member speaks the framed TCP protocol on a raw socket, so that dropping it is a bare
 * close of the socket, with nothing said before.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { GateClient } from "../../client/mod.ts";
import { GroupCmd, LoginCmd, State } from "../../shared/mod.ts";
import type {
  GroupCreated,
  GroupInfo,
  GroupListEntry,
  GroupSent,
} from "../../shared/group_messages.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { RawClient } from "../helpers/raw.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { connectClient, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

/** The grace period of the service under test: short, so that its end is seen in the test. */
const GRACE_MS = 4000;

// deno-lint-ignore no-explicit-any
type Json = any;

/** A GateClient that keeps every group push, in order. */
class Watcher {
  readonly pushes: Array<{ cmd: string; data: Json; at: number }> = [];
  constructor(readonly client: GateClient) {
    for (const cmd of Object.values(GroupCmd).filter((c) => c.startsWith("sc_"))) {
      client.on<Json>(cmd, (data) => this.pushes.push({ cmd, data, at: Date.now() }));
    }
  }

  of(cmd: string): Json[] {
    return this.pushes.filter((p) => p.cmd === cmd).map((p) => p.data);
  }

  async waitFor(cmd: string, count: number): Promise<Json> {
    await waitFor(() => this.of(cmd).length >= count, {
      what: `${count} ${cmd} push(es)`,
      timeoutMs: GRACE_MS + 10_000,
    });
    return this.of(cmd)[count - 1];
  }

  async ok<T = Json>(cmd: string, data: unknown = {}): Promise<T> {
    const response = await this.client.request<T>(cmd, data);
    assert.equal(response.state, State.OK, `${cmd}: ${response.msg}`);
    return response.data;
  }
}

Deno.test({
  name: "group grace: a member keeps its place across a reconnect",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const processes: RunningProcess[] = [];
    const clients: GateClient[] = [];
    const raws: RawClient[] = [];
    const connect = async (token?: string) => {
      const client = await connectClient(gate.wsUrl, { token });
      clients.push(client);
      return client;
    };
    /** A raw member on a new socket, logged in by `token`. */
    const byToken = async (token: string) => {
      const raw = await RawClient.open(gate.tcpUrl);
      raws.push(raw);
      const answer = await raw.ok(LoginCmd.LOGIN_BY_TOKEN, { token });
      return { raw, userId: answer.userId as number };
    };
    try {
      processes.push(await startLogin(gate));
      processes.push(
        await startGroup(gate, { flags: ["--reconnect-grace-ms", String(GRACE_MS)] }),
      );

      // Alice, on a raw socket, owns the lobby; Bob joined it.
      const aliceName = uniqueName("alice");
      let alice = await RawClient.open(gate.tcpUrl);
      raws.push(alice);
      await alice.ok(LoginCmd.REGISTER, { username: aliceName, password: TEST_PASSWORD });
      const login = await alice.ok(LoginCmd.LOGIN, {
        username: aliceName,
        password: TEST_PASSWORD,
      });
      const token = login.token as string;
      const aliceId = login.userId as number;
      const created = await alice.ok<GroupCreated>(GroupCmd.CREATE, { groupId: "lobby_grace" });
      const { groupId, key } = created;
      let aliceClient = created.owner.clientId;

      const bobClient = await connect();
      const bobName = uniqueName("bob");
      await bobClient.register({ username: bobName, password: TEST_PASSWORD });
      await bobClient.login({ username: bobName, password: TEST_PASSWORD });
      const bob = new Watcher(bobClient);
      const joined = await bob.ok<GroupInfo>(GroupCmd.JOIN, { groupId, key });
      const bobMember = joined.members[1];

      await t.step(
        "a dropped member who logs in again by token in time is back in its group",
        async () => {
          alice.close();
          const away = await bob.waitFor(GroupCmd.AWAY, 1);
          assert.deepEqual(away, {
            groupId,
            userId: aliceId,
            clientId: aliceClient,
            name: aliceName,
            graceMs: GRACE_MS,
            members: 2,
          });
          const meanwhile = await bob.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
          assert.deepEqual(meanwhile.owner.clientId, aliceClient, "the away owner is still owner");
          assert.deepEqual(meanwhile.members.map((m) => [m.userId, m.away ?? false]), [
            [aliceId, true],
            [bobMember.userId, false],
          ]);
          const lost = await bob.ok<GroupSent>(GroupCmd.SEND, { groupId, data: "while away" });
          assert.equal(lost.reached, 0, "a message sent while away is not kept for the member");

          const previous = aliceClient;
          ({ raw: alice } = await byToken(token));
          const back = await bob.waitFor(GroupCmd.BACK, 1);
          aliceClient = back.clientId;
          assert.notEqual(aliceClient, previous, "a new connection");
          assert.deepEqual(back, {
            groupId,
            userId: aliceId,
            clientId: aliceClient,
            previousClientId: previous,
            name: aliceName,
            owner: { userId: aliceId, clientId: aliceClient, name: aliceName },
            members: 2,
          });
          const listed = await alice.ok<{ groups: GroupListEntry[] }>(GroupCmd.LIST);
          assert.deepEqual(listed.groups, [{
            groupId,
            owner: { userId: aliceId, clientId: aliceClient, name: aliceName },
            members: 2,
            isOwner: true,
          }]);
          const members = await alice.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
          assert.deepEqual(members.members.map((m) => [m.userId, m.clientId, m.away]), [
            [aliceId, aliceClient, undefined],
            [bobMember.userId, bobMember.clientId, undefined],
          ]);
          assert.equal(members.members[0].joinedAt, joined.members[0].joinedAt, "joinedAt kept");
          assert.deepEqual(alice.of(GroupCmd.MSG), [], "nothing replayed");
          const sent = await bob.ok<GroupSent>(GroupCmd.SEND, { groupId, data: "welcome back" });
          assert.equal(sent.reached, 1);
          await waitFor(() => alice.of(GroupCmd.MSG).length === 1, { what: "the next message" });
          assert.equal(alice.of(GroupCmd.MSG)[0].data, "welcome back");
          const greeting = await alice.ok<GroupSent>(GroupCmd.SEND, { groupId, data: "hi again" });
          assert.equal(greeting.reached, 1);
          await bob.waitFor(GroupCmd.MSG, 1);
          assert.equal(bob.of(GroupCmd.MSG)[0].fromClientId, aliceClient);
          assert.deepEqual(bob.of(GroupCmd.LEFT), [], "no one left");
        },
      );

      await t.step("a stranger logging in meanwhile cannot take the place", async () => {
        alice.close();
        await bob.waitFor(GroupCmd.AWAY, 2);
        const mallory = await connect();
        const malloryName = uniqueName("mallory");
        await mallory.register({ username: malloryName, password: TEST_PASSWORD });
        await mallory.login({ username: malloryName, password: TEST_PASSWORD });
        const listed = await mallory.request<{ groups: GroupListEntry[] }>(GroupCmd.LIST);
        assert.deepEqual(listed.data.groups, []);
        const send = await mallory.request(GroupCmd.SEND, { groupId, data: "me?" });
        assert.equal(send.state, State.FORBIDDEN);
        const members = await bob.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
        assert.deepEqual(members.members.map((m) => [m.userId, m.away ?? false]), [
          [aliceId, true],
          [bobMember.userId, false],
        ]);
        assert.equal(bob.of(GroupCmd.BACK).length, 1, "no one came back");

        ({ raw: alice } = await byToken(token));
        const back = await bob.waitFor(GroupCmd.BACK, 2);
        aliceClient = back.clientId;
        assert.equal(back.userId, aliceId);
        assert.equal(back.owner.clientId, aliceClient);
      });

      await t.step("after the grace period the member is gone", async () => {
        alice.close();
        const droppedAt = Date.now();
        await bob.waitFor(GroupCmd.AWAY, 3);
        const left = await bob.waitFor(GroupCmd.LEFT, 1);
        const leftAt = bob.pushes.find((p) => p.cmd === GroupCmd.LEFT)!.at;
        assert.ok(
          leftAt - droppedAt >= GRACE_MS - 500,
          `the member left ${leftAt - droppedAt} ms after the drop, before the grace ended`,
        );
        assert.deepEqual(left, {
          groupId,
          userId: aliceId,
          clientId: aliceClient,
          name: aliceName,
          reason: "disconnected",
          owner: {
            userId: bobMember.userId,
            clientId: bobMember.clientId,
            name: bobName,
          },
          members: 1,
        });
        ({ raw: alice } = await byToken(token));
        const listed = await alice.ok<{ groups: GroupListEntry[] }>(GroupCmd.LIST);
        assert.deepEqual(listed.groups, [], "too late: no group");
        const members = await bob.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
        assert.deepEqual(members.members.map((m) => m.userId), [bobMember.userId]);
        assert.equal(members.owner.clientId, bobMember.clientId);
        assert.equal(bob.of(GroupCmd.BACK).length, 2, "no back push after the grace");
      });

      await t.step(
        "a member that logged out or deleted its account is away at once, its close changes nothing",
        async () => {
          // Alice, logged in by token again, joins; logs out; her socket closes.
          await alice.ok(GroupCmd.JOIN, { groupId, key });
          const awayBefore = bob.of(GroupCmd.AWAY).length;
          await alice.ok(LoginCmd.LOGOUT);
          const away = await bob.waitFor(GroupCmd.AWAY, awayBefore + 1);
          assert.equal(away.userId, aliceId);
          alice.close();
          const left = await bob.waitFor(GroupCmd.LEFT, 2);
          assert.equal(left.userId, aliceId);
          assert.equal(left.reason, "disconnected");
          assert.equal(bob.of(GroupCmd.AWAY).length, awayBefore + 1, "away once, at the logout");
          alice = await RawClient.open(gate.tcpUrl);
          raws.push(alice);
          await alice.ok(LoginCmd.LOGIN, { username: aliceName, password: TEST_PASSWORD });
          assert.deepEqual((await alice.ok(GroupCmd.LIST)).groups, []);

          // Alice joins again, deletes her account, and her socket closes.
          await alice.ok(GroupCmd.JOIN, { groupId, key });
          await alice.ok(LoginCmd.DELETE_ACCOUNT, { password: TEST_PASSWORD });
          await bob.waitFor(GroupCmd.AWAY, awayBefore + 2);
          alice.close();
          const gone = await bob.waitFor(GroupCmd.LEFT, 3);
          assert.equal(gone.userId, aliceId);
          assert.equal(bob.of(GroupCmd.AWAY).length, awayBefore + 2);
          assert.equal(bob.of(GroupCmd.BACK).length, 2, "never back");
          const members = await bob.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
          assert.deepEqual(members.members.map((m) => m.userId), [bobMember.userId]);
        },
      );
    } finally {
      for (const raw of raws) raw.close();
      for (const client of clients) client.close();
      await Promise.all(processes.map((p) => p.stop()));
      await gate.stop();
    }
  },
});

Deno.test({
  name: "group grace: a member back on a new connection is told when its group's instance stops",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const processes: RunningProcess[] = [];
    const raws: RawClient[] = [];
    const open = async () => {
      const raw = await RawClient.open(gate.tcpUrl);
      raws.push(raw);
      return raw;
    };
    try {
      processes.push(await startLogin(gate));
      const group = await startGroup(gate, { flags: ["--reconnect-grace-ms", String(GRACE_MS)] });
      processes.push(group);
      const name = uniqueName("carol");
      const first = await open();
      await first.ok(LoginCmd.REGISTER, { username: name, password: TEST_PASSWORD });
      const login = await first.ok(LoginCmd.LOGIN, { username: name, password: TEST_PASSWORD });
      await first.ok<GroupCreated>(GroupCmd.CREATE, { groupId: "lobby_moved" });
      first.close();
      await waitFor(() => group.lines.some((line) => line.includes("group member away")), {
        what: "the member marked away",
      });
      const second = await open();
      await second.ok(LoginCmd.LOGIN_BY_TOKEN, { token: login.token });
      await waitFor(() => group.lines.some((line) => line.includes("group member back")), {
        what: "the member back",
      });
      // An answer from the group instance comes after its key notify on the same link: once it
      // is here, the gate knows the new connection is to be told (the kill cannot outrun it).
      await second.ok(GroupCmd.MEMBERS, { groupId: "lobby_moved" });
      group.kill("SIGKILL");
      await waitFor(() => second.of(GroupCmd.DISMISSED).length === 1, {
        what: "sc_msg_group_dismiss on the new connection",
        timeoutMs: 3000,
      });
      assert.equal(second.of(GroupCmd.DISMISSED)[0].groupId, "lobby_moved");
    } finally {
      for (const raw of raws) raw.close();
      await Promise.all(processes.map((p) => p.stop()));
      await gate.stop();
    }
  },
});
