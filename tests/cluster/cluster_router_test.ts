import assert from "node:assert/strict";
import { GateCmd, State } from "../../shared/mod.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { type ClusterGate, clusterGate } from "../helpers/cluster_gate.ts";
import type { TestGate } from "../helpers/sessions.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

/** A request as a client sends it. */
function request(cmd: string, msgId: number) {
  return { cmd, is_req: true as const, msgId, time: 0, data: {} };
}

/** Answers every request a link has been sent and not answered yet, with `state`. */
function answerAll(gate: ClusterGate, link: ReturnType<TestGate["link"]>, from = 0, state = 1) {
  for (const forwarded of link.conn.sent.slice(from)) {
    gate.router.answer(link, {
      cmd: forwarded.cmd as string,
      is_resp: true,
      msgId: forwarded.msgId as number,
      state,
      time: 0,
      data: { at: link.service?.name },
      msg: state === State.OK ? undefined : "refused",
    });
  }
}

Deno.test({
  name: "cluster router: routes to another gate, skips a busy gate, SERVER_OFF once none is left",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn(t) {
    natsServer.check();
    const nats = await startNats();
    const a = await clusterGate(1, nats.url, { maxInflight: 1 });
    const b = await clusterGate(2, nats.url, { maxInflight: 1 });
    try {
      await t.step("a request on A reaches B's link; its state comes back", async () => {
        const link = b.link(["echo"]);
        b.router.addLink(link);
        const client = a.open();
        await waitFor(() => {
          client.conn.sent.length = 0;
          a.router.route(client, request("echo", 1));
          return link.conn.sent.length > 0;
        }, { what: "B's announce" }).catch(() => {});
        await waitFor(() => link.conn.sent.length > 0, { what: "the request at B" });
        const forwarded = link.conn.sent[0];
        assert.equal(forwarded.clientId, client.id, "the sender's clientId crosses gates");
        answerAll(b, link, 0, State.FAIL);
        await waitFor(() => client.conn.sent.some((m) => m.state === State.FAIL), {
          what: "the answer on A",
        });
        assert.equal(a.metrics.get("responses_total", 'state="FAIL"') >= 1, true);
        b.router.removeLink(link);
      });

      await t.step("A's only link at its limit: every request goes to B", async () => {
        const linkA = a.link(["work"]);
        const linkB = b.link(["work"]);
        a.router.addLink(linkA);
        b.router.addLink(linkB);
        const client = a.open();
        // Hold A's link busy with a request that reaches it.
        await waitFor(() => {
          a.router.route(client, request("work", 100));
          answerAll(b, linkB, 0);
          return linkA.conn.sent.length === 1;
        }, { what: "A's link busy" });
        // Let the requests of the loop that went to B arrive, and answer them.
        await new Promise((resolve) => setTimeout(resolve, 300));
        answerAll(b, linkB, 0);
        const before = linkB.conn.sent.length;
        for (let i = 0; i < 10; i++) {
          a.router.route(client, request("work", i));
          const want = before + i + 1;
          await waitFor(() => linkB.conn.sent.length === want, { what: `request ${i} at B` });
          answerAll(b, linkB, want - 1);
        }
        assert.equal(linkA.conn.sent.length, 1, "nothing more reached A's busy link");
        const busy = client.conn.sent.filter((m) => m.state === State.SERVER_BUSY);
        assert.equal(busy.length, 0, "no request was refused busy while B was free");
        a.router.removeLink(linkA);
        b.router.removeLink(linkB);
      });

      await t.step("the only instance (on B) leaves: A answers SERVER_OFF", async () => {
        const link = b.link(["lonely"]);
        b.router.addLink(link);
        const client = a.open();
        await waitFor(() => {
          a.router.route(client, request("lonely", 1));
          answerAll(b, link);
          return client.conn.sent.some((m) => m.cmd === "lonely" && m.state === State.OK);
        }, { what: "lonely served across gates" });
        b.router.removeLink(link);
        await waitFor(() => {
          client.conn.sent.length = 0;
          a.router.route(client, request("lonely", 2));
          return client.conn.sent.length === 1 && client.conn.sent[0].state === State.SERVER_OFF;
        }, { what: "SERVER_OFF" });
        a.router.route(client, request("never_served", 3));
        assert.equal(client.conn.sent.at(-1)?.state, State.UNDEFINED_CMD);
      });

      await t.step("ss_msg_user_bind reaches the links that listed it on both gates", async () => {
        const hearsA = a.link([], [GateCmd.USER_BIND]);
        const hearsB = b.link([], [GateCmd.USER_BIND]);
        a.router.addLink(hearsA);
        b.router.addLink(hearsB);
        const onB = b.open();
        // Bound from gate A (as a login service linked to A would), the client being on B.
        assert.equal(await a.router.bindUser({ clientId: onB.id, userId: 21, token: "t" }), true);
        const binds = (link: typeof hearsA) =>
          link.conn.sent.filter((m) => m.cmd === GateCmd.USER_BIND).map((m) => m.data);
        await waitFor(() => binds(hearsA).length > 0, { what: "the bind event on A" });
        assert.deepEqual(binds(hearsA), [{ clientId: onB.id, userId: 21 }]);
        assert.deepEqual(binds(hearsB), [{ clientId: onB.id, userId: 21 }]);
        // A client on A bound on A: B's link hears it through the stream.
        const onA = a.open();
        assert.equal(await a.router.bindUser({ clientId: onA.id, userId: 22 }), true);
        await waitFor(() => binds(hearsB).length === 2, { what: "the second bind event on B" });
        assert.deepEqual(binds(hearsB)[1], { clientId: onA.id, userId: 22 });
        assert.deepEqual(binds(hearsA)[1], { clientId: onA.id, userId: 22 });
        // Each link heard each binding once.
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(binds(hearsA).length, 2);
        assert.equal(binds(hearsB).length, 2);
        a.router.removeLink(hearsA);
        b.router.removeLink(hearsB);
      });

      await t.step("push, bind and kick reach a client on the other gate", async () => {
        const onB = b.open();
        assert.equal(a.router.push([onB.id], JSON.stringify({ cmd: "sc_p", is_push: true })), 1);
        await waitFor(() => onB.conn.sent.some((m) => m.cmd === "sc_p"), { what: "the push" });
        assert.equal(await a.router.bindUser({ clientId: onB.id, userId: 9 }), true);
        assert.equal(onB.userId, 9);
        assert.equal(await a.router.unbindUser({ clientId: onB.id, userId: 9 }), true);
        assert.equal(await a.router.kick({ clientId: onB.id, reason: "test" }), true);
        assert.equal(onB.conn.closed, true);
      });
    } finally {
      await a.router.close();
      await b.router.close();
      await nats.stop();
    }
  },
});
