import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ServiceError, State } from "../../client/mod.ts";
import type { Logger } from "../../server/log.ts";
import { KvSessions, SESSIONS_BUCKET } from "../../server/login/kv_sessions.ts";
import type { SessionGate } from "../../server/login/sessions.ts";
import { type NatsServer, natsServerTool, startNats } from "../helpers/nats.ts";

const natsServer = natsServerTool();
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A gate that keeps clientId → userId like the real one (over every gate of a cluster). */
function fakeGate(connected: number[]) {
  const bound = new Map<number, number>(connected.map((id) => [id, 0]));
  const kicked: number[] = [];
  const gate: SessionGate = {
    bindUser(b) {
      if (!bound.has(b.clientId)) return Promise.resolve(false);
      bound.set(b.clientId, b.userId);
      return Promise.resolve(true);
    },
    unbindUser(b) {
      if (bound.get(b.clientId) !== b.userId) return Promise.resolve(false);
      bound.set(b.clientId, 0);
      return Promise.resolve(true);
    },
    push(ids) {
      kicked.push(...ids);
      return Promise.resolve(ids.length);
    },
  };
  const boundTo = (userId: number) => [...bound].filter(([, u]) => u === userId).map(([c]) => c);
  return { gate, bound, kicked, boundTo };
}

/** A NATS server and a connection to it, for one test. */
async function withNats(fn: (nc: NatsConnection, nats: NatsServer) => Promise<void>) {
  natsServer.check();
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  try {
    await fn(nc, nats);
  } finally {
    await nc.close();
    await nats.stop();
  }
}

Deno.test({
  name: "kv sessions: a login on instance B kicks the session instance A bound",
  ignore: natsServer.ignore,
  fn: () =>
    withNats(async (nc) => {
      const { gate, kicked, boundTo } = fakeGate([1, 2]);
      const a = await KvSessions.open({ nc, gate, log: quiet, instance: "A" });
      const b = await KvSessions.open({ nc, gate, log: quiet, instance: "B" });
      assert.deepEqual(await a.bind({ userId: 7, clientId: 1, token: "t1" }), {
        bound: true,
        kicked: undefined,
      });
      assert.deepEqual(await a.entry(7), { clientId: 1, instance: "A" });
      assert.deepEqual(await b.bind({ userId: 7, clientId: 2, token: "t2" }), {
        bound: true,
        kicked: 1,
      });
      assert.deepEqual(kicked, [1]);
      assert.deepEqual(boundTo(7), [2]);
      assert.deepEqual(await a.entry(7), { clientId: 2, instance: "B" });
      // Logout on A ends B's session; the entry goes.
      assert.equal(await a.end({ userId: 7, clientId: 2 }), true);
      assert.deepEqual(boundTo(7), []);
      assert.equal(await b.entry(7), undefined);
    }),
});

Deno.test({
  name: "kv sessions: a dead instance's claim is taken over after the lapse, and every " +
    "connection it may have bound is unbound",
  ignore: natsServer.ignore,
  fn: () =>
    withNats(async (nc) => {
      const { gate, bound, boundTo } = fakeGate([1, 3, 4]);
      const b = await KvSessions.open({ nc, gate, log: quiet, instance: "B", lapseMs: 300 });
      // Instance "dead" had user 7 settled on 1, claimed it, bound 3, and died: two bound.
      const kv = await new Kvm(nc).open(SESSIONS_BUCKET);
      await kv.put("7", JSON.stringify({ clientId: 1, instance: "dead", claim: { loose: [3] } }));
      bound.set(1, 7);
      bound.set(3, 7);
      const started = Date.now();
      const result = await b.bind({ userId: 7, clientId: 4, token: "t" });
      assert.ok(Date.now() - started >= 300, "the claim was waited for a lapse");
      assert.equal(result.bound, true);
      assert.deepEqual(boundTo(7), [4]);
      assert.deepEqual(await b.entry(7), { clientId: 4, instance: "B" });
    }),
});

Deno.test({
  name: "kv sessions: a turn whose claim was taken over meanwhile unbinds what it bound and fails",
  ignore: natsServer.ignore,
  fn: () =>
    withNats(async (nc) => {
      const { gate, boundTo } = fakeGate([5, 6]);
      const a = await KvSessions.open({ nc, gate, log: quiet, instance: "A" });
      const kv = await new Kvm(nc).open(SESSIONS_BUCKET);
      const turn = a.turn(7, async () => {
        await a.bind({ userId: 7, clientId: 5, token: "t" });
        // Another instance takes the claim over (as if this one had stalled past the lapse).
        await kv.put("7", JSON.stringify({ clientId: 0, instance: "B", claim: { loose: [5] } }));
      });
      await assert.rejects(turn, (error: unknown) => {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.state, State.FAIL);
        assert.match(error.message, /took over/);
        return true;
      });
      assert.deepEqual(boundTo(7), [], "what the lost turn bound was unbound");
      assert.equal((await a.entry(7))?.instance, "B", "the entry is the new claimant's");
    }),
});

Deno.test({
  name: "kv sessions: a client's leave and its gate going down remove its settled entry only",
  ignore: natsServer.ignore,
  fn: () =>
    withNats(async (nc) => {
      const gateA = 2 ** 32;
      const gateB = 2 * 2 ** 32;
      const { gate } = fakeGate([gateA + 1, gateA + 2, gateB + 1]);
      const a = await KvSessions.open({ nc, gate, log: quiet, instance: "A" });
      await a.bind({ userId: 7, clientId: gateA + 1, token: "t" });
      await a.bind({ userId: 8, clientId: gateA + 2, token: "t" });
      await a.bind({ userId: 9, clientId: gateB + 1, token: "t" });
      // A leave names the user the gate had bound; another client of user 7 leaving changes nothing.
      a.clientLeft({ clientId: gateA + 99, userId: 7 });
      a.clientLeft({ clientId: gateA + 2, userId: 8 });
      const gone = async (userId: number) => (await a.entry(userId)) === undefined;
      for (let i = 0; i < 100 && !(await gone(8)); i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await gone(8), true);
      assert.equal(await gone(7), false);
      a.gateDown({ gate: 2, fromClientId: gateB, toClientId: gateB + 2 ** 32 });
      for (let i = 0; i < 100 && !(await gone(9)); i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await gone(9), true);
      assert.equal(await gone(7), false);
    }),
});
