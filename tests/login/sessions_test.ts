import assert from "node:assert/strict";
import { GateCmd } from "../../shared/mod.ts";
import type { Logger } from "../../server/log.ts";
import { KICK_REASON, type SessionGate, Sessions } from "../../server/login/sessions.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A gate that keeps clientId → userId like the real one and records each call in order. */
function fakeGate(connected: number[]) {
  const bound = new Map<number, number>(connected.map((id) => [id, 0]));
  const calls: string[] = [];
  const gate: SessionGate = {
    bindUser(b) {
      calls.push(`bind ${b.clientId}=${b.userId}`);
      if (!bound.has(b.clientId)) return Promise.resolve(false);
      bound.set(b.clientId, b.userId);
      return Promise.resolve(true);
    },
    unbindUser(b) {
      calls.push(`unbind ${b.clientId}=${b.userId}`);
      if (bound.get(b.clientId) !== b.userId) return Promise.resolve(false);
      bound.set(b.clientId, 0);
      return Promise.resolve(true);
    },
    push(ids, cmd, data) {
      calls.push(`push ${ids.join(",")} ${cmd} ${(data as { reason: string }).reason}`);
      return Promise.resolve(ids.length);
    },
  };
  return { gate, bound, calls };
}

Deno.test("sessions: a second login unbinds and kicks the first, then binds", async () => {
  const { gate, bound, calls } = fakeGate([1, 2]);
  const sessions = new Sessions({ gate, log: quiet });
  assert.deepEqual(await sessions.bind({ userId: 7, clientId: 1, token: "t1" }), {
    bound: true,
    kicked: undefined,
  });
  assert.deepEqual(await sessions.bind({ userId: 7, clientId: 2, token: "t2" }), {
    bound: true,
    kicked: 1,
  });
  assert.deepEqual(calls, [
    "bind 1=7",
    "unbind 1=7",
    `push 1 ${GateCmd.KICKED} ${KICK_REASON}`,
    "bind 2=7",
  ]);
  assert.equal(bound.get(1), 0);
  assert.equal(bound.get(2), 7);
  assert.equal(sessions.clientOf(7), 2);
  assert.equal(sessions.userOf(1), undefined);
});

Deno.test("sessions: a stale entry does not kick the connection that now has its id", async () => {
  const { gate, bound, calls } = fakeGate([1, 2]);
  const sessions = new Sessions({ gate, log: quiet });
  await sessions.bind({ userId: 7, clientId: 1, token: "t" });
  bound.set(1, 99); // the gate restarted and id 1 now belongs to someone else
  const result = await sessions.bind({ userId: 7, clientId: 2, token: "t" });
  assert.equal(result.kicked, undefined);
  assert.equal(calls.some((c) => c.startsWith("push")), false);
  assert.equal(bound.get(1), 99);
});

Deno.test("sessions: logging in again on the same connection kicks nobody", async () => {
  const { gate, calls } = fakeGate([1]);
  const sessions = new Sessions({ gate, log: quiet });
  await sessions.bind({ userId: 7, clientId: 1, token: "a" });
  await sessions.bind({ userId: 7, clientId: 1, token: "b" });
  assert.deepEqual(calls, ["bind 1=7", "bind 1=7"]);
});

Deno.test("sessions: a connection that switches accounts frees the first one", async () => {
  const { gate, calls } = fakeGate([1, 2]);
  const sessions = new Sessions({ gate, log: quiet });
  await sessions.bind({ userId: 7, clientId: 1, token: "a" });
  await sessions.bind({ userId: 8, clientId: 1, token: "b" });
  assert.equal(sessions.clientOf(7), undefined);
  await sessions.bind({ userId: 7, clientId: 2, token: "c" });
  assert.equal(calls.some((c) => c.startsWith("push")), false);
});

Deno.test("sessions: a client that left is forgotten; a bind to a closed one is undone", async () => {
  const { gate } = fakeGate([1]);
  const sessions = new Sessions({ gate, log: quiet });
  await sessions.bind({ userId: 7, clientId: 1, token: "a" });
  sessions.clientLeft({ clientId: 1, userId: 7 });
  assert.equal(sessions.size, 0);
  assert.deepEqual(await sessions.bind({ userId: 8, clientId: 5, token: "b" }), {
    bound: false,
    kicked: undefined,
  });
  assert.equal(sessions.size, 0);
});

Deno.test("sessions: end unbinds the connection and forgets the user", async () => {
  const { gate, bound } = fakeGate([1]);
  const sessions = new Sessions({ gate, log: quiet });
  await sessions.bind({ userId: 7, clientId: 1, token: "a" });
  assert.equal(await sessions.end({ userId: 7, clientId: 1 }), true);
  assert.equal(bound.get(1), 0);
  assert.equal(sessions.size, 0);
});

Deno.test("sessions: two logins of one account at once end with one session", async () => {
  const { gate, bound } = fakeGate([1, 2, 3]);
  const sessions = new Sessions({ gate, log: quiet });
  await Promise.all(
    [1, 2, 3].map((clientId) => sessions.bind({ userId: 7, clientId, token: "t" })),
  );
  assert.deepEqual([...bound.values()].filter((u) => u === 7).length, 1);
  assert.equal(bound.get(sessions.clientOf(7)!), 7);
});

Deno.test("sessions: a gate going down forgets the bindings of its clients only", async () => {
  const gateA = 2 ** 32;
  const gateB = 2 * 2 ** 32;
  const { gate, calls } = fakeGate([gateA + 1, gateB + 1]);
  const sessions = new Sessions({ gate, log: quiet });
  await sessions.bind({ userId: 7, clientId: gateA + 1, token: "t1" });
  await sessions.bind({ userId: 8, clientId: gateB + 1, token: "t2" });
  sessions.gateDown({ gate: 2, fromClientId: gateB, toClientId: gateB + 2 ** 32 });
  assert.equal(sessions.clientOf(8), undefined);
  assert.equal(sessions.userOf(gateB + 1), undefined);
  assert.equal(sessions.clientOf(7), gateA + 1);
  // A later login of user 8 has nothing to kick on the gate that went down.
  calls.length = 0;
  await sessions.bind({ userId: 8, clientId: gateA + 1, token: "t3" });
  assert.ok(!calls.some((call) => call.startsWith(`unbind ${gateB + 1}`)));
});
