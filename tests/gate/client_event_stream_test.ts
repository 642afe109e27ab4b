import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import {
  type ClientEvent,
  ClientEventStream,
  nextBatch,
} from "../../server/gate/client_event_stream.ts";
import { eventLog } from "../helpers/event_log.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

Deno.test("client events: a batch takes the first queued event of each client, in queue order", () => {
  const queue = ["7", "8", "7", "9", "8", "7", "10"].map((key) => ({ key }));
  assert.deepEqual(nextBatch(queue, 256), [0, 1, 3, 6]);
  assert.deepEqual(nextBatch(queue, 2), [0, 1]);
  assert.deepEqual(nextBatch([], 4), []);
});

Deno.test("client events: a batch looks at most four times its size into the queue", () => {
  const queue = Array.from({ length: 100 }, () => ({ key: "7" }));
  queue.push({ key: "8" });
  assert.deepEqual(nextBatch(queue, 2), [0], "one client's backlog does not make a scan unbounded");
  assert.deepEqual(nextBatch(queue, 50), [0, 100]);
});

Deno.test({
  name:
    "client events: a stream that resumes a closed connection's sends what was not acknowledged, in order, and its later binds are not taken for duplicates",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const { log } = eventLog();
    const heard: ClientEvent[] = [];
    const readerNc = await connect({ servers: nats.url });
    const reader = new ClientEventStream({
      nc: readerNc,
      gate: 6,
      log,
      onEvent: (event) => heard.push(event),
    });
    const first = await connect({ servers: nats.url });
    const before = new ClientEventStream({ nc: first, gate: 5, log, onEvent: () => {} });
    let after: ClientEventStream | undefined;
    const second = await connect({ servers: nats.url });
    try {
      await reader.start();
      await before.start();
      before.publish({ kind: "bind", clientId: 10, userId: 1 });
      await waitFor(() => heard.length === 1, { what: "the first bind" });

      // The connection goes away: what is published now waits in the queue.
      await first.close();
      before.publish({ kind: "unbind", clientId: 10, userId: 1 });
      before.publish({ kind: "bind", clientId: 10, userId: 2 });
      before.publish({ kind: "leave", clientId: 11, userId: 0 });
      await waitFor(() => before.queued === 3, { what: "three events queued" });
      before.close();

      after = new ClientEventStream({
        nc: second,
        gate: 5,
        log,
        onEvent: () => {},
        resume: before,
      });
      await after.start();
      // Its first bind gets a message id of its own (a counter started anew would give it the
      // first bind's, and the stream would drop it as a duplicate).
      after.publish({ kind: "bind", clientId: 10, userId: 3 });
      after.publish({ kind: "unbind", clientId: 10, userId: 3 });
      await waitFor(() => heard.length === 6, { what: "every event on the other gate" });
      // Each client's events in the order they happened (another client's may come between).
      assert.deepEqual(heard.filter((event) => event.clientId === 10), [
        { kind: "bind", clientId: 10, userId: 1 },
        { kind: "unbind", clientId: 10, userId: 1 },
        { kind: "bind", clientId: 10, userId: 2 },
        { kind: "bind", clientId: 10, userId: 3 },
        { kind: "unbind", clientId: 10, userId: 3 },
      ]);
      assert.deepEqual(heard.filter((event) => event.clientId === 11), [
        { kind: "leave", clientId: 11, userId: 0 },
      ]);
      assert.equal(after.queued, 0);
    } finally {
      reader.close();
      after?.close();
      await readerNc.close();
      await second.close();
      await nats.stop();
    }
  },
});
