import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { State } from "../../shared/mod.ts";
import { encodeBatch, readAnswerBatch } from "../../server/gate/cluster_answers.ts";
import { commandSubject, STATE_HEADER } from "../../server/gate/cluster_subjects.ts";
import { CLIENTS_PER_GATE } from "../../server/gate/cluster_ids.ts";
import { announceGate, clusterGate } from "../helpers/cluster_gate.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { delay, INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

/** The data of the marker request that shows gate 2 handled what was published before it. */
const MARKER = { marker: true };

function isMarker(data: unknown): boolean {
  return typeof data === "object" && data !== null && "marker" in data;
}

/** An `echo` request as a NATS text, msgId first. */
function echoText(msgId: number): string {
  return `{"msgId":${msgId},"cmd":"echo","is_req":true,"data":{}}`;
}

Deno.test({
  name: "cluster serving: what comes from NATS is checked; a request is passed on with its msgId",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn(t) {
    natsServer.check();
    const nats = await startNats();
    const gate = await clusterGate(2, nats.url);
    const { router } = gate;
    const nc = await connect({ servers: nats.url });
    const link = gate.link(["echo"]);
    router.addLink(link);
    const subject = commandSubject(2, "echo");
    /**
     * Sends a text to gate 2's echo subject; resolves with the answer's text and state. The wait
     * outlasts `waitFor`'s (10 s), so that a request that never reaches the link fails there,
     * saying so, and a loaded machine (the suite runs in parallel on 2 cores in CI) is no fault.
     */
    const ask = async (text: string) => {
      const answer = await nc.request(subject, text, { timeout: 15_000 });
      return { text: answer.string(), state: answer.headers?.get(STATE_HEADER) };
    };
    /** Answers a request the link was sent, as the echo service: OK with `{}` unless told. */
    const answerEcho = (
      forwarded: Record<string, unknown>,
      answer: { state?: number; msg?: string; data?: unknown } = {},
    ) =>
      router.answer(link, {
        cmd: "echo",
        is_resp: true,
        msgId: forwarded.msgId as number,
        state: answer.state ?? State.OK,
        ...("msg" in answer ? { msg: answer.msg } : {}),
        time: 0,
        data: answer.data ?? {},
      });
    /**
     * Sends a marker request after what was published before it and waits until it reaches the
     * link: gate 2 has then handled all of those (NATS keeps one publisher's order to one
     * subscription), without a guess at how long that takes.
     */
    const throughMarker = async () => {
      nc.publish(
        subject,
        JSON.stringify({ msgId: 2, cmd: "echo", is_req: true, data: MARKER }),
        { reply: "test.ignored" },
      );
      await waitFor(
        () => link.conn.sent.some((forwarded) => isMarker(forwarded.data)),
        { what: "the marker at the link" },
      );
    };
    /**
     * Collects what reaches the reply subjects under `prefix`; `settle()` waits for the first,
     * gives any more 100 ms to come, and unsubscribes.
     */
    const replies = async (prefix: string) => {
      const got: { subject: string; data: Uint8Array }[] = [];
      const sub = nc.subscribe(`${prefix}*`, {
        callback: (_error, msg) => {
          got.push({ subject: msg.subject, data: msg.data });
        },
      });
      await nc.flush();
      return {
        got,
        async settle() {
          await waitFor(() => got.length > 0, { what: "the answers" });
          await delay(100);
          sub.unsubscribe();
        },
      };
    };
    try {
      await waitFor(() => {
        nc.publish(subject, echoText(1), { reply: "test.ignored" });
        return link.conn.sent.length > 0;
      }, { what: "gate 2 subscribed to echo" });
      // The tries still on their way arrive too, before a marker sent after them (one publisher,
      // one subscription: in order), however slow the machine: answered and set aside.
      await throughMarker();
      for (const forwarded of link.conn.sent.splice(0)) answerEcho(forwarded);
      assert.equal(gate.dispatcher.pendingCount, 0);

      await t.step("malformed texts from NATS reach no link and stop nothing", async () => {
        const malformed = [
          "not json",
          "",
          "[1,2]",
          "null",
          '{"msgId":1,"cmd":"other","is_req":true}',
          '{"cmd":"echo","msgId":"x","is_req":true}',
          '{"msgId":1,"cmd":"echo","is_req":true',
          '{"msgId":99999999999999999,"cmd":"echo","is_req":true}',
          '{"msgId":01,"cmd":"echo"}',
        ];
        for (const text of malformed) nc.publish(subject, text, { reply: "test.reply" });
        await throughMarker();
        const reached = link.conn.sent.splice(0);
        for (const forwarded of reached) answerEcho(forwarded);
        assert.deepEqual(
          reached.map((forwarded) => forwarded.data),
          [MARKER],
          "no malformed request reached the link, only the marker sent after them",
        );
      });

      await t.step("the text (msgId first) reaches the link with only msgId replaced", async () => {
        const data = { text: '"msgId":5 and {"msgId":6}', n: [1, { msgId: 7 }] };
        const asking = ask(JSON.stringify({
          msgId: 12,
          cmd: "echo",
          is_req: true,
          data,
          clientId: CLIENTS_PER_GATE + 3,
          userId: 0,
        }));
        await waitFor(() => link.conn.sent.length === 1, { what: "the request at the link" });
        const forwarded = link.conn.sent[0];
        assert.notEqual(forwarded.msgId, 12, "the link sees the gate's pending id");
        assert.deepEqual({ ...forwarded, msgId: 12 }, {
          msgId: 12,
          cmd: "echo",
          is_req: true,
          data,
          clientId: CLIENTS_PER_GATE + 3,
          userId: 0,
        });
        answerEcho(forwarded, { state: State.FAIL, msg: "refused" });
        const answer = await asking;
        assert.equal(answer.state, String(State.FAIL));
        const response = JSON.parse(answer.text);
        assert.equal(response.msgId, 12, "the answer carries the requester's msgId");
        assert.equal(response.msg, "refused");
      });

      await t.step("a request in another field order is parsed and checked whole", async () => {
        link.conn.sent.length = 0;
        const asking = ask('{"cmd":"echo","is_req":true,"msgId":13,"data":{"a":1}}');
        await waitFor(() => link.conn.sent.length === 1, { what: "the request at the link" });
        const forwarded = link.conn.sent[0];
        assert.deepEqual(forwarded.data, { a: 1 });
        answerEcho(forwarded, { data: { b: 2 } });
        const response = JSON.parse((await asking).text);
        assert.equal(response.msgId, 13);
        assert.deepEqual(response.data, { b: 2 });
      });

      await t.step(
        "a reply subject ending in q… that is not a gate's batch is one request's (a NATS inbox)",
        async () => {
          link.conn.sent.length = 0;
          const inboxes = [["_INBOX.test.", "qZ3x"], ["gatehouse.r.9.4.", "q5x"]];
          for (const [i, [prefix, token]] of inboxes.entries()) {
            const to = prefix + token;
            const { got, settle } = await replies(prefix);
            nc.publish(subject, echoText(40 + i), { reply: to });
            await waitFor(() => link.conn.sent.length === 1, { what: `the request for ${to}` });
            answerEcho(link.conn.sent.splice(0)[0], { data: { to } });
            await settle();
            assert.deepEqual(got.map((m) => m.subject), [to]);
            const response = JSON.parse(new TextDecoder().decode(got[0].data));
            assert.deepEqual([response.msgId, response.data], [40 + i, { to }]);
          }
        },
      );

      await t.step("the answers of one turn to one gate leave as one batch", async () => {
        link.conn.sent.length = 0;
        const prefix = "gatehouse.r.9.1.";
        const { got, settle } = await replies(prefix);
        await announceGate(nc, { gate: 9, batches: 1 });
        for (let id = 1; id <= 3; id++) {
          nc.publish(subject, echoText(20 + id), { reply: prefix + id });
        }
        await waitFor(() => link.conn.sent.length === 3, { what: "the requests at the link" });
        for (const [i, forwarded] of link.conn.sent.entries()) {
          answerEcho(forwarded, {
            state: i === 1 ? State.FAIL : State.OK,
            msg: i === 1 ? "née refusée" : undefined,
            data: { i },
          });
        }
        await settle();
        assert.deepEqual(got.map((m) => m.subject), [`${prefix}m`], "one message for three");
        const { answers, fault } = readAnswerBatch(got[0].data);
        assert.equal(fault, undefined);
        const read = answers.map((a) => {
          const response = JSON.parse(new TextDecoder().decode(a.bytes));
          return [a.id, a.state, response.msgId, response.data.i, response.msg];
        });
        assert.deepEqual(read, [
          [1, State.OK, 21, 0, undefined],
          [2, State.FAIL, 22, 1, "née refusée"],
          [3, State.OK, 23, 2, undefined],
        ]);
      });

      await t.step(
        "a batch of requests: each reaches the link, a bad entry stops the rest",
        async () => {
          link.conn.sent.length = 0;
          const prefix = "gatehouse.r.9.2.";
          const { got, settle } = await replies(prefix);
          await announceGate(nc, { gate: 9, batches: 1 });
          const body = new TextDecoder().decode(
            encodeBatch([{ id: 5, state: 0, text: echoText(31) }, {
              id: 6,
              state: 0,
              text: echoText(32),
            }]),
          );
          nc.publish(subject, body + "7 0 999\n{}", { reply: `${prefix}q5-6-7` });
          nc.publish(subject, encodeBatch([{ id: 8, state: 0, text: echoText(33) }]), {
            reply: "gatehouse.r.9.2.x8", // not a batch reply subject: one request, unreadable
          });
          await waitFor(() => link.conn.sent.length === 2, { what: "the requests at the link" });
          assert.deepEqual(link.conn.sent.map((m) => m.data), [{}, {}]);
          for (const forwarded of link.conn.sent) answerEcho(forwarded);
          await settle();
          assert.deepEqual(got.map((m) => m.subject), [`${prefix}m`]);
          const { answers } = readAnswerBatch(got[0].data);
          const read = answers.map((
            a,
          ) => [a.id, JSON.parse(new TextDecoder().decode(a.bytes)).msgId]);
          assert.deepEqual(read, [[5, 31], [6, 32]]);
          assert.equal(link.conn.sent.length, 2, "the entry that did not fit reached no link");
        },
      );

      await t.step(
        "NATS finds no responder for a batch: each of its requests moves on",
        async () => {
          link.conn.sent.length = 0;
          // A gate 3 that says it serves echo but never subscribed: its batches get no-responders.
          const announce = () =>
            announceGate(nc, { gate: 3, serves: { echo: 50 }, types: ["test"] });
          await announce();
          await delay(100);
          await announce();
          const client = gate.open();
          for (let msgId = 1; msgId <= 20; msgId++) {
            router.route(client, { cmd: "echo", is_req: true, msgId, time: 0, data: {} });
          }
          await waitFor(() => link.conn.sent.length === 20, { what: "every request at B's link" });
          for (const forwarded of link.conn.sent) answerEcho(forwarded);
          await waitFor(() => client.conn.sent.length >= 20, { what: "the answers" });
          await delay(100);
          const ids = client.conn.sent.map((m) => m.msgId).sort((x, y) => Number(x) - Number(y));
          assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => i + 1), "each answered once");
          assert.ok(client.conn.sent.every((m) => m.state === State.OK));
        },
      );
    } finally {
      await nc.close();
      await router.close();
      await nats.stop();
    }
  },
});
