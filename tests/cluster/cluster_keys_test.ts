/**
 * The cluster's key directory (server/gate/cluster_keys.ts) against a real nats-server: claims
 * are create-only, every gate's copy follows the bucket, a lost key is deleted by exactly one of
 * the gates that find it, and a released key can be claimed again.
 */

import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ClusterKeys, kvKeyOf } from "../../server/gate/cluster_keys.ts";
import type { Logger } from "../../server/log.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function twoGates(
  url: string,
): Promise<{ a: ClusterKeys; b: ClusterKeys; close(): Promise<void> }> {
  const connections: NatsConnection[] = [];
  const open = async () => {
    const nc = await connect({ servers: url });
    connections.push(nc);
    const keys = new ClusterKeys({ log: quiet });
    await keys.open(nc);
    return keys;
  };
  const a = await open();
  const b = await open();
  return {
    a,
    b,
    async close() {
      a.close();
      b.close();
      for (const nc of connections) await nc.close();
    },
  };
}

Deno.test("cluster keys: a key in a space is one KV key, spaces and keys kept apart", () => {
  assert.notEqual(kvKeyOf("ab", "c"), kvKeyOf("a", "bc"));
  assert.match(kvKeyOf("group", "room/1 é"), /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
});

Deno.test({
  name: "cluster keys: of two gates claiming one key at once, exactly one gets it, every time",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const { a, b, close } = await twoGates(nats.url);
    try {
      for (let round = 0; round < 50; round++) {
        const key = `k${round}`;
        const won = await Promise.all([
          a.claim({ space: "s", key, value: { gate: 1, epoch: 1, link: 10 } }),
          b.claim({ space: "s", key, value: { gate: 2, epoch: 1, link: 20 } }),
        ]);
        assert.equal(won.filter(Boolean).length, 1, `round ${round}`);
      }
      // Each gate's copy follows the bucket; a read finds a key not heard of yet.
      await waitFor(() => a.size === 50 && b.size === 50, { what: "both copies complete" });
      assert.equal((await b.fetch("s", "k0"))?.key, "k0");
      assert.equal(await b.fetch("s", "none"), undefined);
    } finally {
      await close();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "cluster keys: a lost key is deleted by one gate; notify writes coalesce; ids come back",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const { a, b, close } = await twoGates(nats.url);
    try {
      const value = {
        gate: 1,
        epoch: 1,
        link: 10,
        notify: { cmd: "sc_x", data: {}, clientIds: [1] },
      };
      assert.equal(await a.claim({ space: "s", key: "room", value }), true);
      for (let n = 2; n <= 30; n++) {
        a.write({
          space: "s",
          key: "room",
          value: { ...value, notify: { ...value.notify, clientIds: [1, n] } },
        });
      }
      await waitFor(() => b.cached("s", "room")?.notify?.clientIds[1] === 30, {
        what: "the latest notify list on the other gate",
      });
      // Two gates find it lost at once (as after its gate died): one delete wins.
      const seenA = a.cached("s", "room")!;
      const seenB = b.cached("s", "room")!;
      assert.equal(seenA.revision, seenB.revision);
      const wins = await Promise.all([a.lose(seenA), b.lose(seenB)]);
      assert.deepEqual(wins.filter(Boolean).length, 1);
      await waitFor(() => !a.cached("s", "room") && !b.cached("s", "room"), {
        what: "the delete heard by both",
      });
      assert.equal(
        await b.claim({ space: "s", key: "room", value: { gate: 2, epoch: 1, link: 20 } }),
        true,
      );
      // Released by its owner: free again at once for the next claim, even queued right after.
      b.remove("s", "room");
      assert.equal(
        await b.claim({ space: "s", key: "room", value: { gate: 2, epoch: 1, link: 21 } }),
        true,
      );
      assert.equal(await a.claim({ space: "s", key: "room", value: value }), false);
    } finally {
      await close();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "cluster keys: a new run of a gate claims its links' keys again, not another's",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const { a, b, close } = await twoGates(nats.url);
    try {
      const mine = { gate: 1, epoch: 1, link: 10 };
      assert.equal(await a.claim({ space: "s", key: "k", value: mine }), true);
      assert.equal(await a.reclaim({ space: "s", key: "k", value: { ...mine, epoch: 2 } }), true);
      await waitFor(() => b.cached("s", "k")?.epoch === 2, { what: "the new epoch heard" });
      // Held by another link: not taken.
      assert.equal(
        await b.reclaim({ space: "s", key: "k", value: { gate: 2, epoch: 1, link: 20 } }),
        false,
      );
      // Deleted meanwhile (the others released it): created again.
      assert.equal(await b.lose(b.cached("s", "k")!), true);
      assert.equal(await a.reclaim({ space: "s", key: "k", value: { ...mine, epoch: 3 } }), true);
      assert.equal((await b.fetch("s", "k"))?.epoch, 3);
    } finally {
      await close();
      await nats.stop();
    }
  },
});
