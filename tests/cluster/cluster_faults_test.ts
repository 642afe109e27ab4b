import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { GroupCmd } from "../../shared/mod.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin } from "../helpers/login.ts";
import { natsServerTool } from "../helpers/nats.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startEcho,
  startGate,
  waitFor,
} from "../helpers/suite.ts";
import { gateNumber } from "../../server/gate/cluster_ids.ts";
import { clusterFlags, withTwoGates } from "./two_gates.ts";

const natsServer = natsServerTool();

interface EchoData {
  clientId: number;
  instance: string;
}

/** The value of one metric line of a gate's /metrics. */
async function metric(gate: GateProcess, line: string): Promise<number> {
  const text = await (await fetch(`${gate.httpUrl}/metrics`)).text();
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/**
 * Connects to NATS with the raw protocol, sends CONNECT with `options`, a publish to `subject`
 * and a PING, and returns everything the server wrote until it closed (or 5 s passed).
 */
async function rawNatsPublish(
  port: number,
  options: Record<string, string>,
  subject: string,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const text = `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...options })}\r\n` +
    `PUB ${subject} 2\r\n{}\r\nPING\r\n`;
  let received = "";
  try {
    await conn.write(new TextEncoder().encode(text));
    const buffer = new Uint8Array(4096);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const n = await Promise.race([
        conn.read(buffer),
        delay(deadline - Date.now()).then(() => null),
      ]).catch(() => null);
      if (n === null) break;
      received += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
  return received;
}

/** Waits until a client reaches `cmd` on instance `instance` (or any, when not given). */
async function waitServedBy(client: GateClient, cmd: string, instance?: string): Promise<void> {
  await waitFor(async () => {
    const r = await client.request<EchoData>(cmd, {});
    return r.state === State.OK && (instance === undefined || r.data.instance === instance);
  }, { what: `${cmd} served${instance ? ` by ${instance}` : ""}`, timeoutMs: 15_000 });
}

Deno.test({
  name:
    "cluster faults: a gate restarted with the same id never gets a group's messages for the old members",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({}, async (cluster) => {
      const { a, track } = cluster;
      track.service(await startLogin(a));
      track.service(await startGroup(a));
      const probe = await connectClient(cluster.b.wsUrl);
      await waitFor(
        async () => (await probe.request(GroupCmd.LIST, {})).state !== State.UNDEFINED_CMD,
        { what: "group reachable from B" },
      );
      probe.close();
      const owner = await loggedInClient(a.wsUrl, "own");
      track.client(owner.client);
      const created = await owner.client.requestOk<{ groupId: string; key: string }>(
        GroupCmd.CREATE,
        {},
      );
      // Members on B: the first connections of B's run, whose ids a restart used to reuse.
      for (let i = 0; i < 3; i++) {
        const member = await loggedInClient(cluster.b.wsUrl, `m${i}`);
        track.client(member.client);
        await member.client.requestOk(GroupCmd.JOIN, {
          groupId: created.groupId,
          key: created.key,
        });
      }
      const members = async () =>
        (await owner.client.requestOk<{ members: unknown[] }>(GroupCmd.MEMBERS, {
          groupId: created.groupId,
        })).members.length;
      assert.equal(await members(), 4);
      cluster.b.kill("SIGKILL");
      await cluster.b.status;
      cluster.b = await cluster.startGate("b");
      const received: unknown[] = [];
      for (let i = 0; i < 5; i++) {
        const stranger = track.client(new GateClient({ url: cluster.b.wsUrl, reconnect: false }));
        await stranger.connect();
        stranger.on(GroupCmd.MSG, (data) => received.push(data));
      }
      // The group service hears that B's earlier run is gone and drops its members.
      await waitFor(async () => (await members()) === 1, {
        what: "B's old members dropped",
        timeoutMs: 15_000,
      });
      for (let i = 0; i < 5; i++) {
        await owner.client.requestOk(GroupCmd.SEND, { groupId: created.groupId, data: { i } });
      }
      await delay(500);
      assert.deepEqual(received, [], "no push reached a connection that was not a member");
    });
  },
});

Deno.test({
  name:
    "cluster faults: the only instance dies → SERVER_OFF; the other gate's busy link is skipped",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn(t) {
    natsServer.check();
    await withTwoGates({ flags: ["--max-inflight", "1"] }, async (cluster) => {
      const { a, b, track } = cluster;
      await t.step("the only instance (on B) dies: a client on A gets SERVER_OFF", async () => {
        const echoB = await startEcho(b, { name: "only-b" });
        const client = track.client(await connectClient(a.wsUrl));
        await waitServedBy(client, "echo", "only-b");
        echoB.kill("SIGKILL");
        await echoB.status;
        await waitFor(async () => (await client.request("echo", {})).state !== State.OK, {
          what: "the instance gone",
        });
        for (let i = 0; i < 5; i++) {
          const response = await client.request("echo", {});
          assert.equal(response.state, State.SERVER_OFF, response.msg);
        }
        // A gate started after the instance died knows the command was served (KV).
        const c = await cluster.startGate("c");
        const onC = track.client(await connectClient(c.wsUrl));
        assert.equal((await onC.request("echo", {})).state, State.SERVER_OFF);
        assert.equal((await onC.request("never_served", {})).state, State.UNDEFINED_CMD);
        await c.stop();
      });

      await t.step("A's instance at its in-flight limit: every request served by B's", async () => {
        track.service(await startEcho(a, { name: "busy-a" }));
        const client = track.client(await connectClient(a.wsUrl));
        await waitServedBy(client, "echo", "busy-a");
        // The only instance now: this request holds busy-a's one slot for 8 s.
        const held = client.request("echo_sleep", { ms: 8000 }, { timeoutMs: 20_000 });
        await delay(100);
        track.service(await startEcho(b, { name: "idle-b" }));
        await waitServedBy(client, "echo", "idle-b");
        const served = new Map<string, number>();
        for (let i = 0; i < 30; i++) {
          const response = await client.request<EchoData>("echo", { i });
          assert.equal(response.state, State.OK, `request ${i}: ${response.state} ${response.msg}`);
          served.set(response.data.instance, (served.get(response.data.instance) ?? 0) + 1);
        }
        assert.deepEqual(Object.fromEntries(served), { "idle-b": 30 });
        assert.equal((await held).state, State.OK);
      });
    });
  },
});

Deno.test({
  name: "cluster faults: a gate number held by a live gate is refused at start",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({}, async ({ a, nats, dataDir }) => {
      await assert.rejects(
        startGate({ dataDir, flags: clusterFlags(nats.url, "a") }),
        (error: Error) => {
          assert.match(error.message, /exited before printing/);
          assert.match(
            error.message,
            new RegExp(`ERROR gate gate number taken gate=${gateNumber("a")}`),
          );
          assert.match(error.message, /held by a live gate/);
          return true;
        },
      );
      const health = await (await fetch(`${a.httpUrl}/healthz`)).json();
      assert.equal(health.status, "ok", "the first gate goes on");
    });
  },
});

Deno.test({
  name:
    "cluster faults: NATS with a password — gates join with --cluster-creds, others are refused",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const natsAuth = { user: "gate", password: crypto.randomUUID() };
    await withTwoGates({ natsAuth }, async ({ a, b, nats, dataDir, track }) => {
      track.service(await startEcho(b, { name: "echo-b", flags: ["--test-commands"] }));
      const onA = track.client(await connectClient(a.wsUrl));
      await waitServedBy(onA, "echo", "echo-b");
      // Without the gates' credentials no NATS client gets in, so none can publish a forged
      // binding, push or answer on the gate subjects. (Raw protocol: what any client could send.)
      const attempts: Record<string, string>[] = [{}, { user: "gate", pass: "wrong" }, {
        auth_token: "guess",
      }];
      for (const connect of attempts) {
        const answer = await rawNatsPublish(nats.port, connect, "gatehouse.g.1.ctl");
        assert.match(answer, /-ERR 'Authorization Violation'/, JSON.stringify(connect));
        assert.doesNotMatch(answer, /PONG/, "the server must not have taken the publish");
      }
      // A gate without the credentials does not start, and says why.
      await assert.rejects(
        startGate({ dataDir, flags: clusterFlags(nats.url, "c") }),
        /start failed error="NATS at \S+ refused the gate's credentials: it needs --cluster-creds"/,
      );
      // The gates' own routing goes on.
      assert.equal((await onA.request<EchoData>("echo", {})).data.instance, "echo-b");
    });
  },
});

Deno.test({
  name: "cluster faults: leaves while NATS restarts are all heard on the other gate",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({}, async ({ a, b, nats, track }) => {
      track.service(await startEcho(b, { name: "echo-b", flags: ["--test-commands"] }));
      const watcher = track.client(await connectClient(b.wsUrl));
      const leaving: GateClient[] = [];
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) {
        const client = await connectClient(a.wsUrl);
        await waitServedBy(client, "echo");
        ids.push((await client.request<EchoData>("echo", {})).data.clientId);
        leaving.push(client);
      }
      await nats.stop();
      await waitFor(
        async () => (await (await fetch(`${a.httpUrl}/healthz`)).json()).status === "degraded",
        { what: "A degraded" },
      );
      for (const client of leaving) client.close();
      await delay(500);
      await nats.restart();
      await waitFor(async () => {
        const r = await watcher.request<{ leaves: { clientId: number }[] }>("echo_leaves", {});
        const heard = new Set(r.data.leaves.map((l) => l.clientId));
        return ids.every((id) => heard.has(id));
      }, { what: "every leave heard on B", timeoutMs: 20_000 });
    });
  },
});

Deno.test({
  name: "cluster faults: gate B killed with requests in flight — each answered once, in seconds",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({ flags: ["--request-timeout-ms", "30000"] }, async ({ a, b, track }) => {
      track.service(await startEcho(b, { name: "echo-b" }));
      const client = track.client(await connectClient(a.wsUrl));
      await waitServedBy(client, "echo", "echo-b");
      const offBefore = await metric(a, 'gatehouse_responses_total{state="SERVER_OFF"}');
      const started = Date.now();
      const inFlight = Array.from(
        { length: 20 },
        () => client.request("echo_sleep", { ms: 20_000 }, { timeoutMs: 40_000 }),
      );
      await delay(300);
      b.kill("SIGKILL");
      const answers = await Promise.all(inFlight);
      const elapsed = Date.now() - started;
      for (const answer of answers) assert.equal(answer.state, State.SERVER_OFF, answer.msg);
      assert.ok(elapsed < 10_000, `answered after ${elapsed} ms, not within seconds`);
      await delay(500);
      const offAfter = await metric(a, 'gatehouse_responses_total{state="SERVER_OFF"}');
      assert.equal(offAfter - offBefore, 20, "each request answered exactly once");
    });
  },
});
