/**
 * Issue 6: Node imports the built bundle, connects to a running suite (gate, login, group),
 * registers, logs in, creates and joins a group with a second client, sends, and receives the
 * pushes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildNodeBundle, nodeTool } from "../helpers/node.ts";
import { GroupCmd } from "../../shared/mod.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { INTEGRATION, startGate } from "../helpers/suite.ts";

const node = nodeTool();

/**
 * The Node program: two clients over framed TCP (Node 20 has no WebSocket without a flag).
 * Its arguments: bundle path, gate URL, password, two usernames, and GroupCmd as JSON.
 */
const SCRIPT = `
  const [bundle, url, password, aliceName, bobName, cmdsJson] = process.argv.slice(1);
  const { GateClient, State } = await import(bundle);
  const Group = JSON.parse(cmdsJson);
  const alice = new GateClient({ url, reconnect: false });
  const bob = new GateClient({ url, reconnect: false });
  await Promise.all([alice.connect(), bob.connect()]);
  const registered = [
    await alice.register({ username: aliceName, password }),
    await bob.register({ username: bobName, password }),
  ];
  const logins = [
    await alice.login({ username: aliceName, password }),
    await bob.login({ username: bobName, password }),
  ];
  const joinPush = new Promise((resolve) => alice.on(Group.JOINED, resolve));
  const msgPush = new Promise((resolve) => alice.on(Group.MSG, resolve));
  const created = await alice.requestOk(Group.CREATE, {});
  const joined = await bob.requestOk(Group.JOIN, { groupId: created.groupId, key: created.key });
  const sent = await bob.request(Group.SEND, {
    groupId: created.groupId,
    data: { text: "hello from node" },
  });
  const [join, msg] = await Promise.all([joinPush, msgPush]);
  console.log(JSON.stringify({
    runtime: process.release.name,
    registered: registered.map((r) => r.userId > 0),
    logins: logins.map((l) => ({ userId: l.userId, username: l.username, token: l.token.length })),
    loggedIn: [alice.loggedIn, bob.loggedIn],
    groupId: created.groupId,
    members: joined.members.length,
    sent: sent.state === State.OK && sent.data.reached,
    join: { groupId: join.groupId, userId: join.userId, members: join.members },
    msg: { groupId: msg.groupId, fromUserId: msg.fromUserId, data: msg.data },
  }));
  alice.close();
  bob.close();
`;

Deno.test({
  name: "Node imports the built bundle: register, log in, a group, and its pushes from a suite",
  ...INTEGRATION,
  ignore: node.ignore,
  async fn() {
    node.check();
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_node_suite_" });
    const outfile = await buildNodeBundle(dir);
    const gate = await startGate();
    const [login, group] = await Promise.all([startLogin(gate), startGroup(gate)]);
    try {
      const alice = uniqueName("nodea");
      const bob = uniqueName("nodeb");
      const output = await new Deno.Command("node", {
        args: [
          "--input-type=module",
          "-e",
          SCRIPT,
          outfile,
          gate.tcpUrl,
          TEST_PASSWORD,
          alice,
          bob,
          JSON.stringify(GroupCmd),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.ok(output.success, stderr);
      const result = JSON.parse(new TextDecoder().decode(output.stdout).trim());
      const [aliceLogin, bobLogin] = result.logins;
      assert.equal(result.runtime, "node");
      assert.deepEqual(result.registered, [true, true]);
      assert.deepEqual(
        result.logins.map((l: { username: string; token: number }) => [l.username, l.token]),
        [[alice, 43], [bob, 43]],
      );
      assert.deepEqual(result.loggedIn, [true, true]);
      assert.equal(result.members, 2);
      assert.equal(result.sent, 1, "the message reached alice");
      assert.deepEqual(result.join, {
        groupId: result.groupId,
        userId: bobLogin.userId,
        members: 2,
      });
      assert.deepEqual(result.msg, {
        groupId: result.groupId,
        fromUserId: bobLogin.userId,
        data: { text: "hello from node" },
      });
      assert.notEqual(aliceLogin.userId, bobLogin.userId);
    } finally {
      await Promise.all([login.stop(), group.stop()]);
      await gate.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
