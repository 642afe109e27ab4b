import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createShared, isCreationRace } from "../../server/shared_streams.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { INTEGRATION } from "../helpers/suite.ts";

const natsServer = natsServerTool();

function apiError(errCode: number, description: string): JetStreamApiError {
  return new JetStreamApiError({ code: 400, err_code: errCode, description });
}

Deno.test("shared streams: a refusal for a twin creation is run again, until it is made", async () => {
  let calls = 0;
  const made = await createShared(() => {
    calls++;
    if (calls < 3) {
      return Promise.reject(apiError(10065, "subjects overlap with an existing stream"));
    }
    return Promise.resolve("bucket");
  });
  assert.equal(made, "bucket");
  assert.equal(calls, 3);
});

Deno.test("shared streams: any other error is thrown at once, and a race only five times", async () => {
  let calls = 0;
  await assert.rejects(
    createShared(() => {
      calls++;
      return Promise.reject(apiError(10039, "jetstream not enabled for account"));
    }),
    /jetstream not enabled/,
  );
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    createShared(() => {
      calls++;
      return Promise.reject(apiError(10058, "stream name already in use"));
    }),
    /already in use/,
  );
  assert.equal(calls, 5);
  assert.equal(isCreationRace(new Error("subjects overlap with an existing stream")), false);
});

Deno.test({
  name:
    "shared streams: eight connections creating the same buckets at once all get them (nats-server)",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const ncs = await Promise.all(
      Array.from({ length: 8 }, () => connect({ servers: nats.url })),
    );
    try {
      const refused: string[] = [];
      for (let round = 0; round < 300; round++) {
        const results = await Promise.allSettled(
          ncs.map((nc) =>
            createShared(() => new Kvm(nc).create(`shared_${round}`, { history: 1 }))
          ),
        );
        for (const result of results) {
          if (result.status === "rejected") refused.push(String(result.reason));
        }
      }
      assert.deepEqual(refused, [], "every instance opens the bucket another is making");
      const jsm = await jetstreamManager(ncs[0]);
      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      assert.equal(names.filter((name) => name.startsWith("KV_shared_")).length, 300);
    } finally {
      await Promise.all(ncs.map((nc) => nc.close()));
      await nats.stop();
    }
  },
});
