import assert from "node:assert/strict";
import { GateCmd, State } from "../../shared/mod.ts";
import { LocalRouter } from "../../server/gate/local_router.ts";
import { testGate } from "../helpers/sessions.ts";

Deno.test("local router: stamps the sender's fields over what the client wrote, answers to it", () => {
  const gate = testGate();
  const router = new LocalRouter(gate);
  const link = gate.link(["echo"]);
  router.addLink(link);
  const client = gate.open();
  client.userId = 42;
  router.route(client, {
    cmd: "echo",
    is_req: true,
    msgId: 5,
    time: 0,
    data: {},
    clientId: 999,
    userId: 1,
    is_ss_link: true,
  });
  const forwarded = link.conn.sent[0];
  assert.equal(forwarded.clientId, client.id);
  assert.equal(forwarded.userId, 42);
  assert.equal(forwarded.is_ss_link, false);
  router.answer(link, {
    cmd: "echo",
    is_resp: true,
    msgId: forwarded.msgId as number,
    state: State.OK,
    time: 0,
    data: { ok: 1 },
    clientId: client.id,
  });
  assert.equal(client.conn.sent.length, 1);
  assert.equal(client.conn.sent[0].msgId, 5);
  assert.equal(gate.metrics.get("responses_total", 'state="OK"'), 1);
  return router.close();
});

Deno.test("local router: bind, unbind, kick and push reach this gate's sessions", async () => {
  const gate = testGate();
  const router = new LocalRouter(gate);
  const client = gate.open();
  assert.equal(await router.bindUser({ clientId: client.id, userId: 7, token: "t" }), true);
  assert.equal(client.userId, 7);
  assert.equal(await router.unbindUser({ clientId: client.id, userId: 8 }), false);
  assert.equal(await router.unbindUser({ clientId: client.id, userId: 7 }), true);
  assert.equal(client.userId, 0);
  assert.equal(await router.bindUser({ clientId: 12345, userId: 7 }), false);
  const other = gate.open();
  assert.equal(router.push([client.id, other.id, 12345], JSON.stringify({ cmd: "p" })), 2);
  assert.equal(await router.kick({ clientId: client.id, reason: "r" }), true);
  assert.equal(client.conn.sent.at(-1)?.cmd, GateCmd.KICKED);
  assert.equal(client.conn.closed, true);
  assert.equal(await router.kick({ clientId: client.id, reason: "r" }), false);
  await router.close();
});

Deno.test("local router: a client leaving is told to the links that listed the event", async () => {
  const gate = testGate();
  const router = new LocalRouter(gate);
  const listening = gate.link(["a"], [GateCmd.CLIENT_LEAVE]);
  const deaf = gate.link(["b"]);
  router.addLink(listening);
  router.addLink(deaf);
  router.clientLeft({ id: 77, userId: 3 });
  assert.deepEqual(listening.conn.sent.map((m) => [m.cmd, m.data]), [
    [GateCmd.CLIENT_LEAVE, { clientId: 77, userId: 3 }],
  ]);
  assert.equal(deaf.conn.sent.length, 0);
  await router.close();
});

Deno.test("local router: a user binding is told to the links that listed ss_msg_user_bind", async () => {
  const gate = testGate();
  const router = new LocalRouter(gate);
  const listening = gate.link(["a"], [GateCmd.USER_BIND]);
  const deaf = gate.link(["b"], [GateCmd.CLIENT_LEAVE]);
  router.addLink(listening);
  router.addLink(deaf);
  const client = gate.open();
  assert.equal(await router.bindUser({ clientId: client.id, userId: 7, token: "secret" }), true);
  assert.equal(await router.bindUser({ clientId: 12345, userId: 8 }), false);
  assert.deepEqual(listening.conn.sent.map((m) => [m.cmd, m.data]), [
    [GateCmd.USER_BIND, { clientId: client.id, userId: 7 }],
  ], "one event for the binding made, none for a client not connected; no token");
  assert.equal(deaf.conn.sent.length, 0);
  await router.close();
});

Deno.test("local router: a binding that ends on an open client is told to the links that listed ss_msg_user_unbind, in order with its binds", async () => {
  const gate = testGate();
  const router = new LocalRouter(gate);
  const listening = gate.link(["a"], [GateCmd.USER_BIND, GateCmd.USER_UNBIND]);
  const deaf = gate.link(["b"], [GateCmd.USER_BIND, GateCmd.CLIENT_LEAVE]);
  router.addLink(listening);
  router.addLink(deaf);
  const client = gate.open();
  assert.equal(await router.bindUser({ clientId: client.id, userId: 7 }), true);
  assert.equal(await router.unbindUser({ clientId: client.id, userId: 7 }), true);
  assert.equal(await router.bindUser({ clientId: client.id, userId: 8 }), true);
  assert.equal(await router.bindUser({ clientId: client.id, userId: 8 }), true);
  assert.equal(await router.bindUser({ clientId: client.id, userId: 9 }), true);
  router.clientLeft(client);
  assert.deepEqual(listening.conn.sent.map((m) => [m.cmd, m.data]), [
    [GateCmd.USER_BIND, { clientId: client.id, userId: 7 }],
    [GateCmd.USER_UNBIND, { clientId: client.id, userId: 7 }],
    [GateCmd.USER_BIND, { clientId: client.id, userId: 8 }],
    [GateCmd.USER_BIND, { clientId: client.id, userId: 8 }],
    [GateCmd.USER_UNBIND, { clientId: client.id, userId: 8 }],
    [GateCmd.USER_BIND, { clientId: client.id, userId: 9 }],
  ], "a logout and a bind of another user end a binding; binding the same user again does not");
  assert.equal(deaf.conn.sent.some((m) => m.cmd === GateCmd.USER_UNBIND), false);
  await router.close();
});

Deno.test("local router: an unbind the gate refuses, or of no user, tells no one", async () => {
  const gate = testGate();
  const router = new LocalRouter(gate);
  const listening = gate.link(["a"], [GateCmd.USER_UNBIND]);
  router.addLink(listening);
  const client = gate.open();
  assert.equal(await router.unbindUser({ clientId: client.id, userId: 0 }), true);
  assert.equal(await router.bindUser({ clientId: client.id, userId: 7 }), true);
  assert.equal(await router.unbindUser({ clientId: client.id, userId: 8 }), false);
  assert.equal(await router.unbindUser({ clientId: 12345, userId: 7 }), false);
  assert.deepEqual(listening.conn.sent, []);
  assert.equal(client.userId, 7);
  await router.close();
});
