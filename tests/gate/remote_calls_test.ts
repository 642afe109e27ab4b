import assert from "node:assert/strict";
import { RemoteCalls } from "../../server/gate/remote_calls.ts";

const noReply = () => {};

Deno.test("remote calls: each settles once, by answer, by its gate's death or by its timeout", () => {
  const timedOut: number[] = [];
  const calls = new RemoteCalls<string>({
    timeoutMs: 1000,
    onTimeout: (call) => timedOut.push(call.id),
  });
  const a = calls.add({ gate: 1, cmd: "x", msgId: 1, reply: noReply, context: "a" });
  const b = calls.add({ gate: 2, cmd: "x", msgId: 2, reply: noReply, context: "b" });
  const c = calls.add({ gate: 2, cmd: "x", msgId: 3, reply: noReply, context: "c" });
  assert.equal(calls.size, 3);
  assert.equal(calls.take(a.id)?.context, "a");
  assert.equal(calls.take(a.id), undefined, "an answer after the first is dropped");
  assert.deepEqual(calls.takeGate(2).map((call) => call.context), ["b", "c"]);
  assert.equal(calls.take(b.id), undefined, "a dead gate's call is not answered again");
  const d = calls.add({ gate: 3, cmd: "x", msgId: 4, reply: noReply, context: "d" });
  calls.sweep(d.deadline - 1);
  assert.deepEqual(timedOut, []);
  calls.sweep(d.deadline);
  assert.deepEqual(timedOut, [d.id]);
  assert.equal(calls.size, 0);
  assert.notEqual(c.id, d.id);
  calls.close();
});
