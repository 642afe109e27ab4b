import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { GroupCmd, LoginCmd } from "../../shared/mod.ts";
import { CUT_OFF_REASON } from "../../server/gate/cluster_router.ts";
import { CLIENTS_PER_GATE } from "../../server/gate/cluster_ids.ts";
import { ID_BLOCK } from "../../server/gate/gate_identity.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { startTcpProxy } from "../helpers/tcp_proxy.ts";
import { delay, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

Deno.test({
  name:
    "cluster cut-off: a gate cut off from NATS past the lapse closes its clients, which log in again",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    // Gate B reaches NATS only through a proxy the test can cut.
    const proxy = startTcpProxy(nats.port);
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
    const flags = (url: string, id: string) => ["--cluster", url, "--gate-id", id];
    const a = await startGate({ dataDir, flags: flags(nats.url, "1") });
    const b = await startGate({ dataDir, flags: flags(`nats://127.0.0.1:${proxy.port}`, "2") });
    const services: RunningProcess[] = [];
    const clients: GateClient[] = [];
    try {
      services.push(await startLogin(a), await startGroup(a));
      const owner = await loggedInClient(a.wsUrl, "own");
      clients.push(owner.client);
      const member = new GateClient({ url: b.wsUrl, backoffMaxMs: 200 });
      clients.push(member);
      const closes: string[] = [];
      member.onState((state, detail) => {
        if (state === "disconnected") closes.push(detail ?? "");
      });
      await member.connect();
      const username = uniqueName("cut");
      await member.register({ username, password: TEST_PASSWORD });
      await waitFor(async () => {
        const r = await member.request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
        return r.state === State.OK;
      }, { what: "login reachable from gate B" });
      await member.login({ username, password: TEST_PASSWORD });
      const created = await owner.client.requestOk<{ groupId: string; key: string }>(
        GroupCmd.CREATE,
        {},
      );
      const joined = await member.requestOk<{ members: { clientId: number }[] }>(GroupCmd.JOIN, {
        groupId: created.groupId,
        key: created.key,
      });
      const before = joined.members.map((m) => m.clientId).find((id) =>
        Math.floor(id / CLIENTS_PER_GATE) === 2
      );
      assert.ok(before !== undefined, "the member's clientId is gate B's");

      proxy.cut();
      // Gate A declares B down after 3 s without its heartbeat; the group drops B's member.
      await waitFor(async () => {
        const r = await owner.client.requestOk<{ members: unknown[] }>(GroupCmd.MEMBERS, {
          groupId: created.groupId,
        });
        return r.members.length === 1;
      }, { what: "B's member dropped while B is cut off", timeoutMs: 15_000 });
      await delay(500);
      assert.deepEqual(closes, [], "B's clients stay connected while B cannot tell");
      proxy.restore();

      // Back on NATS, B learns that it was declared down and closes its clients, saying why.
      await waitFor(() => closes.length > 0, { what: "the member's connection closed" });
      assert.equal(closes[0], CUT_OFF_REASON);
      // The client connects again and logs in by token by itself.
      await waitFor(() => member.state === "connected" && member.loggedIn, {
        what: "the member logged in again",
        timeoutMs: 15_000,
      });
      // Its new clientId is from a new block of B's: nothing held for the old one applies.
      const rejoined = await waitFor(async () => {
        const r = await member.request<{ members: { clientId: number }[] }>(GroupCmd.JOIN, {
          groupId: created.groupId,
          key: created.key,
        });
        return r.state === State.OK;
      }, { what: "the member joins again" }).then(() =>
        owner.client.requestOk<{ members: { clientId: number; name?: string }[] }>(
          GroupCmd.MEMBERS,
          { groupId: created.groupId },
        )
      );
      assert.equal(rejoined.members.length, 2, "owner and the member again, once");
      const after = rejoined.members.map((m) => m.clientId).find((id) =>
        Math.floor(id / CLIENTS_PER_GATE) === 2
      )!;
      assert.ok(
        Math.floor(after / ID_BLOCK) > Math.floor(before / ID_BLOCK),
        `the new clientId ${after} is from a later block than ${before}`,
      );
      const logged = b.lines.some((l) => l.includes("declared down by the cluster"));
      assert.ok(logged, "gate B logs why it closed its clients");
    } finally {
      for (const client of clients) client.close();
      for (const service of services) await service.stop();
      await a.stop();
      await b.stop();
      proxy.close();
      await nats.stop();
    }
  },
});
