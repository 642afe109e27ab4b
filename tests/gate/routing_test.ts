import assert from "node:assert/strict";
import { type GateClient, ServiceClient, State } from "../../client/mod.ts";
import { GateCmd } from "../../shared/mod.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startEcho,
  startGate,
  TRANSPORTS,
  waitFor,
} from "../helpers/suite.ts";
import type { RunningProcess } from "../helpers/process.ts";

interface EchoData {
  data: unknown;
  clientId: number;
  userId: number;
  isServiceLink: boolean;
  instance: string;
}

Deno.test({
  name: "gate routes requests to services over WebSocket and TCP",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const echoes: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      echoes.push(await startEcho(gate, { name: "echo-a", flags: ["--test-commands"] }));
      echoes.push(
        await startEcho(gate, { name: "echo-b", url: gate.tcpUrl, flags: ["--test-commands"] }),
      );
      for (const transport of TRANSPORTS) {
        await t.step(`${transport}: echo through a service`, async () => {
          const client = await connectClient(gate.url(transport));
          clients.push(client);
          const response = await client.request<EchoData>("echo", { hello: "wörld", n: [1, 2] });
          assert.equal(response.state, State.OK);
          assert.equal(response.cmd, "echo");
          assert.deepEqual(response.data.data, { hello: "wörld", n: [1, 2] });
          assert.equal(response.data.isServiceLink, false);
        });

        await t.step(`${transport}: round-robin over two echo processes`, async () => {
          const client = await connectClient(gate.url(transport));
          clients.push(client);
          const counts = new Map<string, number>();
          for (let i = 0; i < 20; i++) {
            const response = await client.request<EchoData>("echo", { i });
            counts.set(response.data.instance, (counts.get(response.data.instance) ?? 0) + 1);
          }
          assert.deepEqual(Object.fromEntries(counts), { "echo-a": 10, "echo-b": 10 });
        });

        await t.step(
          `${transport}: UNDEFINED_CMD for an unknown command and for ss_ commands`,
          async () => {
            const client = await connectClient(gate.url(transport));
            clients.push(client);
            const unknown = await client.request("no_such_cmd");
            assert.equal(unknown.state, State.UNDEFINED_CMD);
            assert.match(unknown.msg!, /no_such_cmd/);
            for (const cmd of [GateCmd.PUSH, GateCmd.KICK, GateCmd.USER_LOGIN, "ss_anything"]) {
              const response = await client.request(cmd, {
                clientIds: [1],
                cmd: "x",
                clientId: 1,
                userId: 1,
              });
              assert.equal(response.state, State.UNDEFINED_CMD, cmd);
            }
          },
        );

        await t.step(
          `${transport}: forged clientId, userId and is_ss_link are overwritten`,
          async () => {
            const client = await connectClient(gate.url(transport));
            clients.push(client);
            const honest = await client.request<EchoData>("echo", {});
            // Send a request with forged fields through the raw channel.
            const forged = await client.request<EchoData>("echo", { clientId: 999 });
            assert.equal(forged.data.clientId, honest.data.clientId);
            const raw = await rawRequest(gate, transport, {
              cmd: "echo",
              is_req: true,
              msgId: 5,
              data: {},
              clientId: 99999,
              userId: 4242,
              is_ss_link: true,
            });
            assert.equal(raw.state, State.OK);
            assert.notEqual(raw.data.clientId, 99999);
            assert.equal(raw.data.userId, 0);
            assert.equal(raw.data.isServiceLink, false);
            assert.equal(raw.msgId, 5);
            assert.equal("clientId" in raw, false, "clientId is stripped from the response");
            // A user bound by a service is what the service sees.
            const bind = await client.request<{ bound: boolean }>("echo_bind", { userId: 77 });
            assert.equal(bind.data.bound, true);
            const after = await client.request<EchoData>("echo", {});
            assert.equal(after.data.userId, 77);
          },
        );

        await t.step(`${transport}: a push reaches the right client and no other`, async () => {
          const a = await connectClient(gate.url(transport));
          const b = await connectClient(gate.url(transport));
          clients.push(a, b);
          const gotA: unknown[] = [];
          const gotB: unknown[] = [];
          a.on("sc_msg_echo", (data) => gotA.push(data));
          b.on("sc_msg_echo", (data) => gotB.push(data));
          const response = await a.request<{ reached: number }>("echo_push", {
            data: { for: "a" },
          });
          assert.equal(response.data.reached, 1);
          await waitFor(() => gotA.length === 1, { what: "the push" });
          await delay(100);
          assert.deepEqual(gotA, [{ for: "a" }]);
          assert.deepEqual(gotB, []);
        });

        await t.step(`${transport}: ss_msg_client_leave is delivered`, async () => {
          const watcher = await connectClient(gate.wsUrl);
          clients.push(watcher);
          const leaving = await connectClient(gate.url(transport));
          const id = (await leaving.request<EchoData>("echo", {})).data.clientId;
          await leaving.request("echo_bind", { userId: 31 });
          leaving.close();
          // Each echo instance records the leave; ask until one of them has it.
          await waitFor(async () => {
            for (let i = 0; i < 2; i++) {
              const r = await watcher.request<{ leaves: { clientId: number; userId: number }[] }>(
                "echo_leaves",
              );
              if (r.data.leaves.some((l) => l.clientId === id && l.userId === 31)) return true;
            }
            return false;
          }, { what: "ss_msg_client_leave" });
        });
      }

      await t.step(
        "a service link that leaves is announced too (it may hold group memberships)",
        async () => {
          const sskey = (await Deno.readTextFile(`${gate.dataDir}/sskey`)).trim();
          const service = new ServiceClient({ url: gate.tcpUrl, sskey, name: "short-lived" });
          service.handle("short_lived_cmd", () => ({}));
          await service.start();
          const watcher = await connectClient(gate.wsUrl);
          clients.push(watcher);
          const before = await watcher.request<{ leaves: { clientId: number }[] }>("echo_leaves");
          const seen = new Set(before.data.leaves.map((l) => l.clientId));
          service.stop();
          await waitFor(async () => {
            const r = await watcher.request<{ leaves: { clientId: number; userId: number }[] }>(
              "echo_leaves",
            );
            return r.data.leaves.some((l) => !seen.has(l.clientId) && l.userId === 0);
          }, { what: "the service link's leave" });
        },
      );
    } finally {
      for (const client of clients) client.close();
      for (const echo of echoes) await echo.stop();
      assert.equal(await gate.stop(), 0, "the gate exits 0 on SIGTERM");
    }
  },
});

/** Sends one raw envelope (so that forged fields go out as written) and reads its response. */
async function rawRequest(
  gate: GateProcess,
  transport: "ws" | "tcp",
  envelope: Record<string, unknown>,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const { rawExchange } = await import("../helpers/raw.ts");
  const [response] = await rawExchange({
    url: gate.url(transport),
    send: [JSON.stringify(envelope)],
    expect: 1,
  });
  return JSON.parse(response);
}
