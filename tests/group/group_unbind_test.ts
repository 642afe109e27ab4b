/**
 * A logout on a connection that stays open (the gate's `ss_msg_user_unbind`) through a real
 * gate, login and group service: the memberships the connection holds as that user go as when a
 * bound connection drops. Without a grace period the member leaves at once; with one it is away,
 * then leaves when the grace ends, or is back when its user logs in elsewhere (the login service
 * unbinds the old connection and binds the new one). Either way the old connection is no member
 * any more: no push of the group reaches it, it lists none, and the next user logging in on it
 * (a shared terminal) hears nothing of them; its later close changes nothing more.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ServiceClient } from "../../client/mod.ts";
import { GateCmd, GroupCmd, LoginCmd, State } from "../../shared/mod.ts";
import type { GroupCreated, GroupInfo } from "../../shared/group_messages.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { RawClient } from "../helpers/raw.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { type GateProcess, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

/** The grace period of the service under test: short, so that its end is seen in the test. */
const GRACE_MS = 3000;

/** A gate with a login and a group service, raw clients, and a watch on client leaves. */
async function suite(graceMs: number) {
  const gate = await startGate();
  const processes: RunningProcess[] = [];
  const raws: RawClient[] = [];
  const sskey = (await Deno.readTextFile(`${gate.dataDir}/sskey`)).trim();
  // Hears the client leaves on the same gate as the group service: once it heard one, so did
  // the group service, before any request sent after.
  const left = new Set<number>();
  const watch = new ServiceClient({ url: gate.tcpUrl, sskey, name: "watch" });
  watch.onClientLeave((leave) => left.add(leave.clientId));
  await watch.start();
  processes.push(await startLogin(gate));
  processes.push(await startGroup(gate, { flags: ["--reconnect-grace-ms", String(graceMs)] }));
  const open = async (label: string) => {
    const raw = await RawClient.open(gate.tcpUrl, { label });
    raws.push(raw);
    return raw;
  };
  /** A new account logged in on a new connection (or on `on`). */
  const account = async (prefix: string, on?: RawClient) => {
    const raw = on ?? await open(prefix);
    const username = uniqueName(prefix);
    await raw.ok(LoginCmd.REGISTER, { username, password: TEST_PASSWORD });
    const login = await raw.ok(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
    return { raw, username, userId: login.userId as number };
  };
  /** Closes `raw` and waits until the gate told the services that `clientId` left. */
  const closed = async (raw: RawClient, clientId: number) => {
    raw.close();
    await waitFor(() => left.has(clientId), { what: `the leave of client ${clientId}` });
  };
  const stop = async () => {
    for (const raw of raws) raw.close();
    watch.stop();
    await Promise.all(processes.map((p) => p.stop()));
    await gate.stop();
  };
  return { gate, open, account, closed, stop } as {
    gate: GateProcess;
    open: typeof open;
    account: typeof account;
    closed: typeof closed;
    stop: typeof stop;
  };
}

Deno.test({
  name:
    "group unbind: without a grace period a member that logs out leaves at once, and the connection's next user hears nothing of its groups",
  ...INTEGRATION,
  async fn() {
    const { account, closed, stop } = await suite(0);
    try {
      const alice = await account("alice");
      const created = await alice.raw.ok<GroupCreated>(GroupCmd.CREATE, { groupId: "kiosk" });
      const { groupId, key } = created;
      const aliceClient = created.owner.clientId;
      const bob = await account("bob");
      const joined = await bob.raw.ok<GroupInfo>(GroupCmd.JOIN, { groupId, key });
      const bobClient = joined.members[1].clientId;
      const hello = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "hello" });
      assert.equal(hello.reached, 1, "alice is a member before she logs out");
      await alice.raw.push(GroupCmd.MSG);

      await alice.raw.ok(LoginCmd.LOGOUT);
      const gone = await bob.raw.push(GroupCmd.LEFT);
      assert.deepEqual(gone, {
        groupId,
        userId: alice.userId,
        clientId: aliceClient,
        name: alice.username,
        reason: "disconnected",
        owner: { userId: bob.userId, clientId: bobClient, name: bob.username },
        members: 1,
      });
      assert.deepEqual(bob.raw.of(GroupCmd.AWAY), [], "never away without a grace period");
      const after = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "still there?" });
      assert.equal(after.reached, 0, "the logged-out connection gets no message");
      const list = await alice.raw.call(GroupCmd.LIST);
      assert.equal(list.state, State.NOT_LOGGED_IN);

      // Carol logs in on alice's connection (a shared terminal).
      const carol = await account("carol", alice.raw);
      const listed = await carol.raw.ok(GroupCmd.LIST);
      assert.deepEqual(listed.groups, [], "carol lists none of alice's groups");
      const members = await carol.raw.call(GroupCmd.MEMBERS, { groupId });
      assert.equal(members.state, State.FORBIDDEN);
      const send = await carol.raw.call(GroupCmd.SEND, { groupId, data: "me?" });
      assert.equal(send.state, State.FORBIDDEN);
      const leave = await carol.raw.call(GroupCmd.LEAVE, { groupId });
      assert.equal(leave.state, State.FAIL, "not hers to leave");
      const more = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "anyone?" });
      assert.equal(more.reached, 0);
      assert.deepEqual(carol.raw.of(GroupCmd.MSG).map((m) => m.data), ["hello"], "only alice's");

      await closed(carol.raw, aliceClient);
      const info = await bob.raw.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
      assert.deepEqual(info.members.map((m) => m.clientId), [bobClient]);
      assert.equal(bob.raw.of(GroupCmd.LEFT).length, 1, "the close changes nothing more");
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name:
    "group unbind: with a grace period a member that logs out is away, then leaves or is back on its next login",
  ...INTEGRATION,
  async fn(t) {
    const { open, account, closed, stop } = await suite(GRACE_MS);
    try {
      const alice = await account("alice");
      const created = await alice.raw.ok<GroupCreated>(GroupCmd.CREATE, { groupId: "lounge" });
      const { groupId, key } = created;
      const bob = await account("bob");
      const joined = await bob.raw.ok<GroupInfo>(GroupCmd.JOIN, { groupId, key });
      const bobClient = joined.members[1].clientId;

      await t.step(
        "a logout makes the member away, and it leaves when the grace ends",
        async () => {
          const aliceClient = created.owner.clientId;
          const loggedOutAt = Date.now();
          await alice.raw.ok(LoginCmd.LOGOUT);
          const away = await bob.raw.push(GroupCmd.AWAY);
          assert.deepEqual(away, {
            groupId,
            userId: alice.userId,
            clientId: aliceClient,
            name: alice.username,
            graceMs: GRACE_MS,
            members: 2,
          });
          const sent = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "while away" });
          assert.equal(sent.reached, 0, "the logged-out connection gets no message");
          const info = await bob.raw.ok<GroupInfo>(GroupCmd.MEMBERS, { groupId });
          assert.deepEqual(info.members.map((m) => [m.clientId, m.away ?? false]), [
            [aliceClient, true],
            [bobClient, false],
          ]);
          const gone = await bob.raw.push(GroupCmd.LEFT);
          assert.ok(
            Date.now() - loggedOutAt >= GRACE_MS - 500,
            `alice left ${Date.now() - loggedOutAt} ms after the logout, before the grace ended`,
          );
          assert.equal(gone.userId, alice.userId);
          assert.equal(gone.reason, "disconnected");
          assert.equal(gone.owner.clientId, bobClient);
          await closed(alice.raw, aliceClient);
          await bob.raw.ok(GroupCmd.MEMBERS, { groupId });
          assert.equal(bob.raw.of(GroupCmd.LEFT).length, 1, "the close changes nothing more");
          assert.equal(bob.raw.of(GroupCmd.AWAY).length, 1);
          assert.deepEqual(alice.raw.of(GroupCmd.MSG), []);
        },
      );

      await t.step("a login elsewhere moves the membership to the new connection", async () => {
        const first = await open("alice-first");
        await first.ok(LoginCmd.LOGIN, { username: alice.username, password: TEST_PASSWORD });
        const rejoined = await first.ok<GroupInfo>(GroupCmd.JOIN, { groupId, key });
        const firstClient = rejoined.members[1].clientId;
        const second = await open("alice-second");
        await second.ok(LoginCmd.LOGIN, { username: alice.username, password: TEST_PASSWORD });
        const back = await bob.raw.push(GroupCmd.BACK);
        const secondClient = back.clientId;
        assert.notEqual(secondClient, firstClient);
        assert.deepEqual(back, {
          groupId,
          userId: alice.userId,
          clientId: secondClient,
          previousClientId: firstClient,
          name: alice.username,
          owner: { userId: bob.userId, clientId: bobClient, name: bob.username },
          members: 2,
        });
        assert.equal(bob.raw.of(GroupCmd.AWAY).length, 2, "away in between");
        await first.push(GateCmd.KICKED);
        const listed = await second.ok(GroupCmd.LIST);
        assert.deepEqual(listed.groups.map((g: { groupId: string }) => g.groupId), [groupId]);
        const sent = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "welcome" });
        assert.equal(sent.reached, 1, "only the new connection");
        const msg = await second.push(GroupCmd.MSG);
        assert.equal(msg.data, "welcome");
        assert.equal((await first.call(GroupCmd.LIST)).state, State.NOT_LOGGED_IN);
        assert.deepEqual(
          first.pushes.filter((p) => p.cmd.startsWith("sc_msg_group")),
          [],
          "the old connection got nothing of the group after the move",
        );
        await closed(first, firstClient);
        await bob.raw.ok(GroupCmd.MEMBERS, { groupId });
        assert.equal(bob.raw.of(GroupCmd.LEFT).length, 1, "its close changes nothing");
        assert.equal(bob.raw.of(GroupCmd.AWAY).length, 2);
      });

      await t.step(
        "another user logging in on the unbound connection ends the place kept there",
        async () => {
          const aliceRaw = await open("alice-third");
          await aliceRaw.ok(LoginCmd.LOGIN, { username: alice.username, password: TEST_PASSWORD });
          await waitFor(() => bob.raw.of(GroupCmd.BACK).length === 2, { what: "alice back" });
          const aliceClient = bob.raw.of(GroupCmd.BACK)[1].clientId;
          await aliceRaw.ok(LoginCmd.LOGOUT);
          await waitFor(() => bob.raw.of(GroupCmd.AWAY).length === 4, { what: "alice away again" });
          const carol = await account("carol", aliceRaw);
          await waitFor(() => bob.raw.of(GroupCmd.LEFT).length === 2, { what: "alice gone" });
          const gone = bob.raw.of(GroupCmd.LEFT)[1];
          assert.deepEqual([gone.userId, gone.clientId], [alice.userId, aliceClient]);
          assert.deepEqual((await carol.raw.ok(GroupCmd.LIST)).groups, []);
          const sent = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "carol?" });
          assert.equal(sent.reached, 0);
          assert.deepEqual(carol.raw.of(GroupCmd.MSG), []);
        },
      );
    } finally {
      await stop();
    }
  },
});
