import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { DEFAULT_THROTTLE_POLICY as P } from "../../server/login/login_throttle.ts";
import { countFailure } from "../../server/login/throttle_store.ts";
import { KvThrottleStore } from "../../server/login/throttle_kv.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";

const natsServer = natsServerTool();

Deno.test({
  name: "throttle kv: failures counted at once by two instances are all counted (compare-and-set)",
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const ncs = await Promise.all([0, 1].map(() => connect({ servers: nats.url })));
    try {
      const stores = await Promise.all(ncs.map((nc) => KvThrottleStore.open({ nc })));
      const now = Date.now();
      const fail = (i: number) =>
        stores[i % 2].update(
          "p\u0000203.0.113.9\u0000alice01",
          (current) => countFailure({ record: current, now, forgetMs: P.forgetMs }, () => 0),
        );
      await Promise.all(Array.from({ length: 20 }, (_, i) => fail(i)));
      const record = await stores[1].get("p\u0000203.0.113.9\u0000alice01");
      assert.equal(record?.failures, 20);
      // Keys of any text (IPv6 addresses, any name) are stored; a success forgets the record.
      await stores[0].update("s\u00002001:db8::1", () => ({
        failures: 1,
        lastFailureAt: now,
        lockedUntil: 0,
      }));
      assert.equal((await stores[1].get("s\u00002001:db8::1"))?.failures, 1);
      await stores[1].delete("s\u00002001:db8::1");
      assert.equal(await stores[0].get("s\u00002001:db8::1"), undefined);
    } finally {
      for (const nc of ncs) await nc.close();
      await nats.stop();
    }
  },
});
