import assert from "node:assert/strict";
import { State } from "../../shared/mod.ts";
import { testGate } from "../helpers/sessions.ts";

/** A request as the gate forwards it, sender fields set. */
function request(cmd: string, msgId: number, data: unknown = {}) {
  return { cmd, is_req: true as const, msgId, time: 0, data, clientId: 1, userId: 0 };
}

Deno.test("dispatcher: forwards with a gate-wide msgId and restores the requester's on the answer", () => {
  const gate = testGate();
  const link = gate.link(["echo"]);
  gate.dispatcher.addLink(link);
  const answers: [Record<string, unknown>, number][] = [];
  gate.dispatcher.dispatch(
    request("echo", 7),
    (text, state) => answers.push([JSON.parse(text), state]),
  );
  gate.dispatcher.dispatch(
    request("echo", 7),
    (text, state) => answers.push([JSON.parse(text), state]),
  );
  const [first, second] = link.conn.sent;
  assert.notEqual(
    first.msgId,
    second.msgId,
    "two requesters' msgId 7 must not collide at the link",
  );
  assert.equal(gate.dispatcher.pendingCount, 2);
  gate.dispatcher.answer(link, {
    cmd: "echo",
    is_resp: true,
    msgId: second.msgId as number,
    state: State.OK,
    time: 0,
    data: { n: 2 },
    clientId: 1,
  });
  assert.equal(answers.length, 1);
  assert.equal(answers[0][0].msgId, 7);
  assert.equal(answers[0][0].clientId, undefined, "clientId is stripped before the client sees it");
  assert.deepEqual(answers[0][0].data, { n: 2 });
  assert.equal(answers[0][1], State.OK);
  gate.dispatcher.close();
});

Deno.test("dispatcher: round-robin, a link at its in-flight limit skipped, SERVER_BUSY when all are", () => {
  const gate = testGate({ maxInflight: 1 });
  const a = gate.link(["echo"]);
  const b = gate.link(["echo"]);
  gate.dispatcher.addLink(a);
  gate.dispatcher.addLink(b);
  const states: number[] = [];
  const reply = (_text: string, state: number) => states.push(state);
  gate.dispatcher.dispatch(request("echo", 1), reply);
  gate.dispatcher.dispatch(request("echo", 2), reply);
  assert.equal(a.conn.sent.length, 1);
  assert.equal(b.conn.sent.length, 1);
  gate.dispatcher.dispatch(request("echo", 3), reply);
  assert.deepEqual(states, [State.SERVER_BUSY]);
  // b answers: its slot is free again, and a (still busy) is skipped.
  gate.dispatcher.answer(b, {
    cmd: "echo",
    is_resp: true,
    msgId: b.conn.sent[0].msgId as number,
    state: State.OK,
    time: 0,
    data: {},
  });
  gate.dispatcher.dispatch(request("echo", 4), reply);
  assert.equal(b.conn.sent.length, 2);
  assert.equal(a.conn.sent.length, 1);
  gate.dispatcher.close();
});

Deno.test("dispatcher: UNDEFINED_CMD for a command never served, SERVER_OFF once its link left", () => {
  const gate = testGate();
  const states: number[] = [];
  const reply = (_text: string, state: number) => states.push(state);
  gate.dispatcher.dispatch(request("echo", 1), reply);
  const link = gate.link(["echo"]);
  gate.dispatcher.addLink(link);
  gate.dispatcher.dispatch(request("echo", 2), reply);
  gate.dispatcher.removeLink(link);
  gate.dispatcher.dispatch(request("echo", 3), reply);
  // The pending request 2 is answered SERVER_OFF at once when its link leaves.
  assert.deepEqual(states, [State.UNDEFINED_CMD, State.SERVER_OFF, State.SERVER_OFF]);
  assert.equal(gate.dispatcher.pendingCount, 0);
  gate.dispatcher.close();
});

Deno.test("dispatcher: TIMEOUT when the link does not answer, and the late answer is dropped", async () => {
  const gate = testGate({ requestTimeoutMs: 50 });
  const link = gate.link(["slow"]);
  gate.dispatcher.addLink(link);
  const answers: Record<string, unknown>[] = [];
  gate.dispatcher.dispatch(request("slow", 9), (text) => answers.push(JSON.parse(text)));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(answers.length, 1);
  assert.equal(answers[0].state, State.TIMEOUT);
  assert.equal(answers[0].msgId, 9);
  gate.dispatcher.answer(link, {
    cmd: "slow",
    is_resp: true,
    msgId: link.conn.sent[0].msgId as number,
    state: State.OK,
    time: 0,
    data: {},
  });
  assert.equal(answers.length, 1, "every request gets exactly one answer");
  gate.dispatcher.close();
});

Deno.test("dispatcher: a request over the limit is refused, an answer over it replaced", () => {
  const gate = testGate({ maxMessageBytes: 32 + 300 });
  const link = gate.link(["echo"]);
  gate.dispatcher.addLink(link);
  const answers: Record<string, unknown>[] = [];
  const reply = (text: string) => answers.push(JSON.parse(text));
  gate.dispatcher.dispatch(request("echo", 1, "x".repeat(400)), reply);
  assert.equal(link.conn.sent.length, 0);
  assert.equal(answers[0].state, State.BAD_REQUEST);
  assert.equal(answers[0].msgId, 1);
  gate.dispatcher.dispatch(request("echo", 2), reply);
  gate.dispatcher.answer(link, {
    cmd: "echo",
    is_resp: true,
    msgId: link.conn.sent[0].msgId as number,
    state: State.OK,
    time: 0,
    data: "y".repeat(400),
  });
  assert.equal(answers[1].state, State.FAIL);
  assert.equal(answers[1].msgId, 2);
  gate.dispatcher.close();
});

Deno.test("dispatcher: a slow reader is closed past the unsent cap, on answers and pushes", () => {
  const gate = testGate({ maxUnsentBytes: 100 });
  const client = gate.open();
  client.conn.stalled = true;
  gate.dispatcher.deliver(client.conn, JSON.stringify({ cmd: "a", data: "x".repeat(50) }), 1);
  assert.equal(client.conn.closed, false);
  gate.dispatcher.send(client.conn, JSON.stringify({ cmd: "b", data: "x".repeat(50) }));
  assert.match(client.conn.closedWith ?? "", /too slow/);
  assert.equal(gate.metrics.get("slow_readers_closed_total"), 1);
  gate.dispatcher.close();
});

Deno.test("dispatcher: a response from another link than the one asked is dropped", () => {
  const gate = testGate();
  const link = gate.link(["echo"]);
  const other = gate.link(["other"]);
  gate.dispatcher.addLink(link);
  gate.dispatcher.addLink(other);
  const answers: unknown[] = [];
  gate.dispatcher.dispatch(request("echo", 1), (text) => answers.push(text));
  gate.dispatcher.answer(other, {
    cmd: "echo",
    is_resp: true,
    msgId: link.conn.sent[0].msgId as number,
    state: State.OK,
    time: 0,
    data: {},
  });
  assert.equal(answers.length, 0);
  gate.dispatcher.close();
  assert.equal(answers.length, 1, "closing answers what is pending");
});

Deno.test("dispatcher: a link's answer text is passed on with only msgId replaced, one naming clientId is re-encoded without it", () => {
  const gate = testGate();
  const link = gate.link(["echo"]);
  gate.dispatcher.addLink(link);
  const texts: string[] = [];
  gate.dispatcher.dispatch(request("echo", 7), (text) => texts.push(text));
  gate.dispatcher.dispatch(request("echo", 8), (text) => texts.push(text));
  const [first, second] = link.conn.sent.map((sent) => sent.msgId as number);
  const plain =
    `{"cmd":"echo","is_resp":true,"msgId":${first},"state":1,"time":3,"data":{"z":1,"a":2}}`;
  gate.dispatcher.answer(link, JSON.parse(plain), plain);
  const named =
    `{"cmd":"echo","is_resp":true,"msgId":${second},"state":1,"time":3,"data":{},"clientId":1}`;
  gate.dispatcher.answer(link, JSON.parse(named), named);
  assert.deepEqual(texts, [
    '{"cmd":"echo","is_resp":true,"msgId":7,"state":1,"time":3,"data":{"z":1,"a":2}}',
    '{"cmd":"echo","is_resp":true,"msgId":8,"state":1,"time":3,"data":{}}',
  ]);
  gate.dispatcher.close();
});
