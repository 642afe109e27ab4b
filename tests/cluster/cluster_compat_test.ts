import assert from "node:assert/strict";
import { connect, type Msg } from "@nats-io/transport-node";
import { State } from "../../shared/mod.ts";
import { readAnswerBatch } from "../../server/gate/cluster_answers.ts";
import { commandSubject } from "../../server/gate/cluster_subjects.ts";
import { announceGate, clusterGate } from "../helpers/cluster_gate.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { connectClient, delay, INTEGRATION, startEcho, waitFor } from "../helpers/suite.ts";
import { withTwoGates } from "./two_gates.ts";

const natsServer = natsServerTool();

/** A single-form reply subject of gate 2: `gatehouse.r.2.<epoch>.<call id>`. */
const SINGLE_REPLY = /^gatehouse\.r\.2\.\d+\.\d+$/;

Deno.test({
  name: "cluster compat: a gate that does not say it reads batches gets requests and answers alone",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn(t) {
    natsServer.check();
    const nats = await startNats();
    const gate = await clusterGate(2, nats.url);
    const { router } = gate;
    const nc = await connect({ servers: nats.url });
    /** Announces a gate (as an older gate does when `batches` is undefined). */
    const announce = (
      other: number,
      options: { serves?: Record<string, number>; batches?: number },
    ) => announceGate(nc, { gate: other, types: ["test"], ...options });
    // Gate 3, played here: serves echo, answers each request alone on its reply subject.
    const atGate3: Msg[] = [];
    const sub3 = nc.subscribe(commandSubject(3, "echo"), {
      callback: (_error, msg) => {
        atGate3.push(msg);
        if (!SINGLE_REPLY.test(msg.reply ?? "")) return; // a batch: an older gate cannot read it
        const request = JSON.parse(msg.string());
        nc.publish(
          msg.reply!,
          JSON.stringify({
            msgId: request.msgId,
            cmd: "echo",
            is_resp: true,
            state: State.OK,
            time: 0,
            data: { at: 3 },
          }),
        );
      },
    });
    await nc.flush();
    const client = gate.open();
    /** Routes `n` echo requests in one turn; resolves when the client has every answer. */
    const burst = async (firstMsgId: number, n: number) => {
      client.conn.sent.length = 0;
      for (let msgId = firstMsgId; msgId < firstMsgId + n; msgId++) {
        router.route(client, { cmd: "echo", is_req: true, msgId, time: 0, data: {} });
      }
      await waitFor(() => client.conn.sent.length >= n, { what: "the answers" });
      await delay(100);
      const ids = client.conn.sent.map((m) => m.msgId).sort((x, y) => Number(x) - Number(y));
      assert.deepEqual(
        ids,
        Array.from({ length: n }, (_, i) => firstMsgId + i),
        "each answered once",
      );
      assert.ok(
        client.conn.sent.every((m) =>
          m.state === State.OK && (m.data as { at?: number })?.at === 3
        ),
      );
    };
    try {
      await announce(3, { serves: { echo: 50 } });
      await waitFor(() => {
        router.route(client, { cmd: "echo", is_req: true, msgId: 1, time: 0, data: {} });
        return atGate3.length > 0;
      }, { what: "gate 2 sends echo to gate 3" });
      await delay(200);

      await t.step("requests to a gate that did not announce batches: one a message", async () => {
        atGate3.length = 0;
        await burst(100, 60);
        assert.equal(atGate3.length, 60, "one message for each request");
        for (const msg of atGate3) {
          assert.match(msg.reply ?? "", SINGLE_REPLY);
          const request = JSON.parse(msg.string());
          assert.equal(request.cmd, "echo");
          assert.ok(request.msgId >= 100 && request.msgId < 160);
        }
      });

      await t.step("once it announces batches: 1, the requests come batched", async () => {
        await announce(3, { serves: { echo: 50 }, batches: 1 });
        await delay(200);
        atGate3.length = 0;
        const asked = Array.from({ length: 60 }, (_, i) => 200 + i);
        for (const msgId of asked) {
          router.route(client, { cmd: "echo", is_req: true, msgId, time: 0, data: {} });
        }
        await waitFor(() => atGate3.length > 0, { what: "the batch at gate 3" });
        await delay(100);
        assert.equal(atGate3.length, 1, "one message for 60 requests");
        const batch = atGate3[0];
        assert.match(batch.reply ?? "", /^gatehouse\.r\.2\.\d+\.q\d+(-\d+){59}$/);
        const { answers: requests, fault } = readAnswerBatch(batch.data);
        assert.equal(fault, undefined);
        const ids = requests.map((r) => JSON.parse(new TextDecoder().decode(r.bytes)).msgId);
        assert.deepEqual(ids, asked);
        // Answered alone on each call's reply subject (a newer gate reads that form too).
        const prefix = batch.reply!.slice(0, batch.reply!.lastIndexOf(".") + 1);
        client.conn.sent.length = 0;
        for (const [i, request] of requests.entries()) {
          nc.publish(
            prefix + request.id,
            JSON.stringify({
              msgId: ids[i],
              cmd: "echo",
              is_resp: true,
              state: State.OK,
              time: 0,
              data: { at: 3 },
            }),
          );
        }
        await waitFor(() => client.conn.sent.length >= 60, { what: "the answers" });
        assert.ok(client.conn.sent.every((m) => m.state === State.OK));
      });

      await t.step("it announces again without batches: single messages again", async () => {
        await announce(3, { serves: { echo: 50 } });
        await delay(200);
        atGate3.length = 0;
        await burst(300, 30);
        assert.equal(atGate3.length, 30);
        assert.ok(atGate3.every((msg) => SINGLE_REPLY.test(msg.reply ?? "")));
      });

      await t.step("answers to a gate not heard, or without batches, go alone", async () => {
        sub3.unsubscribe();
        await announce(3, { serves: {} });
        const link = gate.link(["echo"]);
        router.addLink(link);
        const subject = commandSubject(2, "echo");
        await waitFor(() => {
          nc.publish(subject, '{"msgId":1,"cmd":"echo","is_req":true}', { reply: "test.x" });
          return link.conn.sent.length > 0;
        }, { what: "gate 2 subscribed to echo" });
        await nc.flush();
        await delay(200);
        /** Sends 20 requests as gate `from` and answers them at the link in one turn. */
        const answersTo = async (from: number) => {
          const prefix = `gatehouse.r.${from}.1.`;
          const got: Msg[] = [];
          const sub = nc.subscribe(`${prefix}*`, {
            callback: (_error, msg) => {
              got.push(msg);
            },
          });
          await nc.flush();
          link.conn.sent.length = 0;
          for (let id = 1; id <= 20; id++) {
            nc.publish(subject, `{"msgId":${1000 + id},"cmd":"echo","is_req":true,"data":{}}`, {
              reply: prefix + id,
            });
          }
          await waitFor(() => link.conn.sent.length === 20, { what: "the requests at the link" });
          for (const forwarded of link.conn.sent) {
            router.answer(link, {
              cmd: "echo",
              is_resp: true,
              msgId: forwarded.msgId as number,
              state: State.OK,
              time: 0,
              data: {},
            });
          }
          await waitFor(() => got.length > 0, { what: "the answers" });
          await delay(150);
          sub.unsubscribe();
          return got;
        };
        const unheard = await answersTo(9);
        assert.deepEqual(
          unheard.map((m) => m.subject).sort(),
          Array.from({ length: 20 }, (_, i) => `gatehouse.r.9.1.${i + 1}`).sort(),
          "a gate never heard: one message an answer",
        );
        assert.deepEqual(
          unheard.map((m) => JSON.parse(m.string()).msgId).sort(),
          Array.from({ length: 20 }, (_, i) => 1001 + i).sort(),
        );
        await announce(10, {});
        const older = await answersTo(10);
        assert.equal(older.length, 20, "a gate without batches: one message an answer");
        assert.ok(older.every((m) => /^gatehouse\.r\.10\.1\.\d+$/.test(m.subject)));
        await announce(11, { batches: 1 });
        const newer = await answersTo(11);
        assert.deepEqual(newer.map((m) => m.subject), ["gatehouse.r.11.1.m"], "batched");
        assert.equal(readAnswerBatch(newer[0].data).answers.length, 20);
      });
    } finally {
      await nc.close();
      await router.close();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "cluster compat: two gates of this version batch requests and answers between them",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates(
      { flags: ["--rate", "100000", "--burst", "100000"] },
      async ({ nats, a, b, track }) => {
        track.service(await startEcho(b, { name: "echo-b", flags: ["--test-commands"] }));
        const client = track.client(await connectClient(a.wsUrl));
        await waitFor(async () => (await client.request("echo", {})).state === State.OK, {
          what: "echo routed from A to B",
        });
        // Both gates hear each other's announce (every second) before the burst.
        await delay(1500);
        const nc = await connect({ servers: nats.url });
        try {
          let requestMessages = 0;
          let answerBatches = 0;
          nc.subscribe("gatehouse.g.*.c.echo", {
            callback: () => {
              requestMessages++;
            },
          });
          nc.subscribe("gatehouse.r.*.*.m", {
            callback: () => {
              answerBatches++;
            },
          });
          await nc.flush();
          const n = 200;
          const states = await Promise.all(
            Array.from({ length: n }, () => client.request("echo", {}).then((r) => r.state)),
          );
          assert.ok(states.every((state) => state === State.OK), "every request answered OK");
          await nc.flush();
          await delay(100);
          assert.ok(requestMessages > 0, "the requests went over NATS");
          assert.ok(
            requestMessages < n,
            `${n} requests went as fewer NATS messages (${requestMessages})`,
          );
          assert.ok(answerBatches > 0, "some answers came back batched");
        } finally {
          await nc.close();
        }
      },
    );
  },
});
