/**
 * Route by key as a user's own service uses it (PROTOCOL.md section 4, "Route by key"): a
 * declared route, claims, a gathered command, a lost key's notify push, and the gate's refusals
 * of a bad declaration.
 */

import assert from "node:assert/strict";
import { GateClient, ServiceClient, ServiceError, State } from "../../client/mod.ts";
import { GateCmd } from "../../shared/mod.ts";
import {
  connectClient,
  type GateProcess,
  INTEGRATION,
  startGate,
  waitFor,
} from "../helpers/suite.ts";

async function sskeyOf(gate: GateProcess): Promise<string> {
  return (await Deno.readTextFile(`${gate.dataDir}/sskey`)).trim();
}

/** A tiny keyed store: `kv_put {name, value}` claims the name, `kv_get {name}` is routed by it. */
function kvService(gate: GateProcess, sskey: string, name: string): ServiceClient {
  const values = new Map<string, unknown>();
  const service = new ServiceClient({ url: gate.tcpUrl, sskey, name, type: "kv" });
  service
    .handle("kv_put", async (request) => {
      const data = request.data as { name: string; value: unknown };
      const claimed = await service.claimKey(data.name, {
        cmd: "sc_kv_lost",
        data: { name: data.name },
        clientIds: [request.clientId],
      });
      if (!claimed) throw new ServiceError(State.FAIL, "Taken");
      values.set(data.name, data.value);
      return { instance: name };
    })
    .handle("kv_get", (request) => {
      const key = (request.data as { name: string }).name;
      if (!values.has(key)) return { instance: name, found: false };
      return { instance: name, found: true, value: values.get(key) };
    }, { route: { by: "name" } })
    .handle("kv_names", () => ({ names: [...values.keys()] }), { route: { gather: "names" } })
    .handle("kv_drop", async (request) => {
      const key = (request.data as { name: string }).name;
      values.delete(key);
      return { released: await service.releaseKey(key) };
    }, { route: { by: "name" } });
  return service;
}

Deno.test({
  name: "key routes: a user's service is routed by its key, gathered, and told of lost keys",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const sskey = await sskeyOf(gate);
    const services = [kvService(gate, sskey, "kv-1"), kvService(gate, sskey, "kv-2")];
    let client: GateClient | undefined;
    try {
      for (const service of services) await service.start();
      const c = await connectClient(gate.wsUrl);
      client = c;
      const lost: unknown[] = [];
      c.on("sc_kv_lost", (data) => lost.push(data));
      const holders = new Map<string, string>();
      for (let i = 0; i < 6; i++) {
        const put = await c.requestOk<{ instance: string }>("kv_put", {
          name: `n${i}`,
          value: i,
        });
        holders.set(`n${i}`, put.instance);
      }
      assert.equal(new Set(holders.values()).size, 2, "puts went round-robin to both");
      for (let round = 0; round < 3; round++) {
        for (const [name, instance] of holders) {
          const got = await c.requestOk<{ instance: string; found: boolean }>("kv_get", {
            name,
          });
          assert.deepEqual([got.instance, got.found], [instance, true], name);
        }
      }
      const names = await c.requestOk<{ names: string[] }>("kv_names", {});
      assert.deepEqual(names.names.sort(), [...holders.keys()].sort());
      // A claim of a key held by the other instance fails.
      const again = await c.request("kv_put", { name: "n0", value: 9 });
      const twice = await c.request("kv_put", { name: "n0", value: 9 });
      assert.ok([again, twice].some((r) => r.state === State.FAIL));
      // Released: routed to any instance, which does not know it.
      const dropped = await c.requestOk<{ released: boolean }>("kv_drop", { name: "n1" });
      assert.equal(dropped.released, true);
      const gone = await c.requestOk<{ found: boolean }>("kv_get", { name: "n1" });
      assert.equal(gone.found, false);
      // The instance goes away: its keys are told lost, and routed to the other one.
      const leaving = services[0];
      const itsKeys = [...holders].filter(([n, i]) => i === "kv-1" && n !== "n1").map(([n]) => n);
      leaving.stop();
      await waitFor(() => lost.length === itsKeys.length, { what: "sc_kv_lost pushes" });
      assert.deepEqual(
        lost.map((d) => (d as { name: string }).name).sort(),
        itsKeys.sort(),
      );
      for (const name of itsKeys) {
        const got = await c.requestOk<{ instance: string; found: boolean }>("kv_get", {
          name,
        });
        assert.deepEqual([got.instance, got.found], ["kv-2", false]);
      }
    } finally {
      client?.close();
      for (const service of services) service.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name: "key routes: the gate refuses a bad declaration and bad key commands with a sentence",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const sskey = await sskeyOf(gate);
    const raw = new GateClient({ url: gate.wsUrl, reconnect: false });
    const first = new ServiceClient({ url: gate.tcpUrl, sskey, name: "first", type: "kv" });
    try {
      await raw.connect();
      const register = (apis: string[], routes: unknown) =>
        raw.request(GateCmd.REG_API, { type: "kv", name: "raw", sskey, apis, routes });
      const cases: [string[], unknown, string][] = [
        [["a"], [], "Field routes must be an object of command names to routes"],
        [["a"], { b: { by: "x" } }, "Route of b: the command is not among apis"],
        [
          ["a"],
          { a: { by: "1x" } },
          "Route of a must be {by: field} or {gather: field}, the field 1 to 64 letters, " +
          "digits or '_', not starting with a digit",
        ],
        [["a"], { a: { by: "x", gather: "y" } }, "Route of a must be {by: field} or"],
        [["a"], { a: { route: "x" } }, "Route of a must be {by: field} or"],
      ];
      for (const [apis, routes, msg] of cases) {
        const answer = await register(apis, routes);
        assert.equal(answer.state, State.BAD_REQUEST, JSON.stringify(routes));
        assert.ok(answer.msg?.startsWith(msg), `${answer.msg} starts with ${msg}`);
      }
      // Every instance must declare the same route.
      first.handle("kv_get", () => ({}), { route: { by: "name" } });
      await first.start();
      const other = await register(["kv_get"], { kv_get: { by: "id" } });
      assert.equal(other.state, State.BAD_REQUEST);
      assert.equal(
        other.msg,
        "Command kv_get is routed by field name in key space kv by the links that serve it: " +
          "every instance must declare the same route",
      );
      const none = await register(["kv_get"], undefined);
      assert.equal(none.state, State.BAD_REQUEST);
      const same = await register(["kv_get"], { kv_get: { by: "name" } });
      assert.equal(same.state, State.OK);
      // Key commands check their fields; only the holder may change or release a key.
      const bad: [string, unknown, string][] = [
        [GateCmd.KEY_CLAIM, { key: "" }, "Field key must be a string of 1 to 256 characters"],
        [GateCmd.KEY_CLAIM, { key: "k", notify: 3 }, "Field notify must be an object"],
        [GateCmd.KEY_CLAIM, { key: "k", notify: { cmd: "a b" } }, "Field notify.cmd must be"],
        [GateCmd.KEY_NOTIFY, { key: "k", add: [0] }, "Field add must be an array of at most"],
      ];
      for (const [cmd, data, msg] of bad) {
        const answer = await raw.request(cmd, data);
        assert.equal(answer.state, State.BAD_REQUEST, `${cmd} ${JSON.stringify(data)}`);
        assert.ok(answer.msg?.startsWith(msg), `${answer.msg} starts with ${msg}`);
      }
      assert.equal(await first.claimKey("k"), true);
      assert.equal(await first.claimKey("k"), true, "claimed again by its holder");
      const taken = await raw.request(GateCmd.KEY_CLAIM, { key: "k" });
      assert.deepEqual([taken.state, taken.msg], [
        State.FAIL,
        "Key k is claimed by another instance",
      ]);
      const notify = await raw.request(GateCmd.KEY_NOTIFY, { key: "k", add: [5] });
      assert.deepEqual([notify.state, notify.msg], [State.FAIL, "This link does not hold key k"]);
      const release = await raw.requestOk<{ released: boolean }>(GateCmd.KEY_RELEASE, { key: "k" });
      assert.equal(release.released, false);
      assert.equal(await first.releaseKey("k"), true);
      assert.equal((await raw.request(GateCmd.KEY_CLAIM, { key: "k" })).state, State.OK);
      // A client (not a link) may not use them.
      const client = await connectClient(gate.wsUrl);
      const refused = await client.request(GateCmd.KEY_CLAIM, { key: "x" });
      client.close();
      assert.equal(refused.state, State.UNDEFINED_CMD);
    } finally {
      raw.close();
      first.stop();
      await gate.stop();
    }
  },
});
