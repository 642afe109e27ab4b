import assert from "node:assert/strict";
import { type GateClient, State } from "../../client/mod.ts";
import { natsSkipReason, startNats } from "../helpers/nats.ts";
import type { RunningProcess } from "../helpers/process.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startEcho,
  startGate,
  waitFor,
} from "../helpers/suite.ts";

interface EchoData {
  clientId: number;
  instance: string;
}

/** Waits until a client on one gate reaches a command served on another. */
async function waitRouted(client: GateClient, cmd = "echo"): Promise<void> {
  await waitFor(async () => (await client.request(cmd, {})).state === State.OK, {
    what: `${cmd} routed across gates`,
  });
}

Deno.test({
  name: "cluster: routing, fair share, push, kick and client-leave across gates",
  ...INTEGRATION,
  async fn(t) {
    const skip = await natsSkipReason();
    if (skip) return console.log(skip);
    const nats = await startNats();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
    const gates: GateProcess[] = [];
    const services: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      for (const id of ["a", "b"]) {
        gates.push(
          await startGate({
            dataDir,
            flags: ["--cluster", nats.url, "--gate-id", id, "--rate", "10000", "--burst", "10000"],
          }),
        );
      }
      const [a, b] = gates;
      await t.step("a client on gate A calls a service connected only to gate B", async () => {
        services.push(await startEcho(b, { name: "echo-b1", flags: ["--test-commands"] }));
        const client = await connectClient(a.wsUrl);
        clients.push(client);
        await waitRouted(client);
        const response = await client.request<EchoData>("echo", { hello: 1 });
        assert.equal(response.state, State.OK);
        assert.equal(response.data.instance, "echo-b1");
        const health = await (await fetch(`${a.httpUrl}/healthz`)).json();
        assert.equal(health.status, "ok");
      });

      await t.step(
        "300 requests: every instance on every gate gets a share, none over twice its fair share",
        async () => {
          services.push(await startEcho(b, { name: "echo-b2", flags: ["--test-commands"] }));
          services.push(await startEcho(a, { name: "echo-a1", flags: ["--test-commands"] }));
          const client = clients[0];
          await delay(1500); // let both gates announce their instances
          const counts = new Map<string, number>();
          for (let i = 0; i < 300; i++) {
            const response = await client.request<EchoData>("echo", { i });
            assert.equal(response.state, State.OK);
            counts.set(response.data.instance, (counts.get(response.data.instance) ?? 0) + 1);
          }
          const shares = Object.fromEntries(counts);
          assert.deepEqual(
            Object.keys(shares).sort(),
            ["echo-a1", "echo-b1", "echo-b2"],
            JSON.stringify(shares),
          );
          for (const [name, count] of counts) {
            assert.ok(count <= 200, `${name} got ${count} of 300`);
          }
        },
      );

      await t.step("push and kick reach a client on another gate", async () => {
        const onA = await connectClient(a.tcpUrl);
        const onB = await connectClient(b.wsUrl);
        clients.push(onA, onB);
        const idA = (await onA.request<EchoData>("echo", {})).data.clientId;
        const pushes: unknown[] = [];
        onA.on("sc_msg_cross", (data) => pushes.push(data));
        const pushed = await onB.request<{ reached: number }>("echo_push", {
          clientIds: [idA],
          cmd: "sc_msg_cross",
          data: { from: "b" },
        });
        assert.equal(pushed.state, State.OK);
        await waitFor(() => pushes.length === 1, { what: "the cross-gate push" });
        assert.deepEqual(pushes, [{ from: "b" }]);
        const kicked: unknown[] = [];
        onA.on("sc_msg_kicked", (data) => kicked.push(data));
        const states: string[] = [];
        onA.onState((state) => states.push(state));
        const kick = await onB.request<{ kicked: boolean }>("echo_kick", {
          clientId: idA,
          reason: "test",
        });
        assert.equal(kick.state, State.OK);
        // The echo instance that ran the kick may sit on either gate; either way it reaches A.
        assert.equal(kick.data.kicked, true);
        await waitFor(() => kicked.length === 1 && states.includes("disconnected"), {
          what: "the kick",
        });
        assert.deepEqual(kicked, [{ reason: "test" }]);
      });

      await t.step("ss_msg_client_leave reaches services on every gate", async () => {
        const leaving = await connectClient(a.wsUrl);
        const id = (await leaving.request<EchoData>("echo", {})).data.clientId;
        leaving.close();
        const watcher = clients[0];
        // Every echo instance, on both gates, hears of the leave.
        await waitFor(async () => {
          const seenBy = new Set<string>();
          for (let i = 0; i < 30; i++) {
            const r = await watcher.request<{ leaves: { clientId: number }[] }>("echo_leaves");
            if (r.data.leaves.some((l) => l.clientId === id)) seenBy.add(String(i));
          }
          return seenBy.size === 30;
        }, { what: "the leave on every instance" });
      });
    } finally {
      for (const client of clients) client.close();
      for (const service of services) await service.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "cluster: gate B killed with requests in flight, and nats-server restarted",
  ...INTEGRATION,
  async fn(t) {
    const skip = await natsSkipReason();
    if (skip) return console.log(skip);
    const nats = await startNats();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
    const flags = (
      id: string,
    ) => ["--cluster", nats.url, "--gate-id", id, "--request-timeout-ms", "2000"];
    const a = await startGate({ dataDir, flags: flags("a") });
    let b = await startGate({ dataDir, flags: flags("b") });
    const services: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      services.push(await startEcho(a, { name: "echo-a", flags: ["--test-commands"] }));
      services.push(await startEcho(b, { name: "echo-b", flags: ["--test-commands"] }));
      await t.step(
        "SIGKILL of gate B: every request settles exactly once, B's clients move to A",
        async () => {
          const onA = await connectClient(a.wsUrl);
          const onB = await connectClient([b.wsUrl, a.wsUrl] as unknown as string, {
            url: [b.wsUrl, a.wsUrl],
            reconnect: true,
            backoffMaxMs: 200,
          });
          clients.push(onA, onB);
          await delay(1500);
          const fromA = Array.from({ length: 40 }, () => onA.request("echo_sleep", { ms: 500 }));
          const fromB = Array.from(
            { length: 40 },
            () => onB.request("echo_sleep", { ms: 500 }).then((r) => r.state, (e) => e.name),
          );
          await delay(100);
          b.kill("SIGKILL");
          await b.status;
          const answersA = await Promise.all(fromA);
          for (const answer of answersA) {
            assert.ok(
              [State.OK, State.TIMEOUT, State.SERVER_OFF].includes(answer.state as 1),
              `answer ${answer.state}`,
            );
          }
          const settledB = await Promise.all(fromB);
          for (const outcome of settledB) {
            assert.ok(
              outcome === State.OK || outcome === "ConnectionLostError",
              `B's request: ${outcome}`,
            );
          }
          await waitFor(() => onB.state === "connected" && onB.url === a.wsUrl, {
            what: "B's client on A",
          });
          assert.equal((await onB.request("echo", {})).state, State.OK);
        },
      );

      await t.step(
        "nats-server restarted: gates report degraded, then rejoin and route again",
        async () => {
          b = await startGate({ dataDir, flags: flags("b") });
          services.push(await startEcho(b, { name: "echo-b-again", flags: ["--test-commands"] }));
          await nats.stop();
          await waitFor(
            async () => (await (await fetch(`${a.httpUrl}/healthz`)).json()).status === "degraded",
            {
              what: "degraded health",
            },
          );
          const health = await (await fetch(`${a.httpUrl}/healthz`)).json();
          assert.match(health.reason, /NATS/);
          // A keeps serving its own links while NATS is away.
          assert.equal((await clients[0].request("echo", {})).state, State.OK);
          await nats.restart();
          await waitFor(
            async () => (await (await fetch(`${a.httpUrl}/healthz`)).json()).status === "ok",
            {
              what: "rejoined",
            },
          );
          const seen = new Set<string>();
          await waitFor(async () => {
            const r = await clients[0].request<EchoData>("echo", {});
            if (r.state === State.OK) seen.add(r.data.instance);
            return seen.has("echo-b-again");
          }, { what: "routing to gate B after the restart" });
        },
      );
    } finally {
      for (const client of clients) client.close();
      for (const service of services) service.kill("SIGKILL");
      await a.stop();
      b.kill();
      await nats.stop();
    }
  },
});
