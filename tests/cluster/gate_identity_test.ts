import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { CLIENTS_PER_GATE } from "../../server/gate/cluster_ids.ts";
import { GateIdentity, GateNumberTakenError, ID_BLOCK } from "../../server/gate/gate_identity.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { memoryLogger } from "../helpers/sessions.ts";
import { INTEGRATION } from "../helpers/suite.ts";

const natsServer = natsServerTool();

Deno.test({
  name: "gate identity: a restart takes a new block of clientIds; a live holder refuses a second",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const nc = await connect({ servers: nats.url });
    try {
      const log = memoryLogger();
      const first = new GateIdentity({ nc, gate: 9, gateId: "nine", log });
      await first.claim();
      assert.equal(first.epoch, 0);
      assert.equal(first.previousRun, false);
      const firstIds = [first.nextId(), first.nextId()];
      assert.deepEqual(firstIds, [9 * CLIENTS_PER_GATE + 1, 9 * CLIENTS_PER_GATE + 2]);

      // A second gate with number 9 while the first refreshes its claim: refused.
      const refresher = setInterval(() => first.refresh(), 100);
      const second = new GateIdentity({ nc, gate: 9, gateId: "other", log, lapseMs: 1000 });
      await assert.rejects(second.claim(), (error: Error) => {
        assert.ok(error instanceof GateNumberTakenError);
        assert.match(error.message, /held by a live gate \(id nine/);
        return true;
      });
      clearInterval(refresher);

      // The first stops without releasing (a crash): a restart waits the lapse, then takes over
      // with a block never used.
      const restarted = new GateIdentity({ nc, gate: 9, gateId: "nine", log, lapseMs: 500 });
      await restarted.claim();
      assert.equal(restarted.previousRun, true);
      assert.equal(restarted.epoch, 1);
      const id = restarted.nextId();
      assert.equal(id, 9 * CLIENTS_PER_GATE + ID_BLOCK + 1);
      assert.ok(!firstIds.includes(id));
      assert.equal(await first.refresh(), false, "the crashed run lost its claim");
      await restarted.release();
    } finally {
      await nc.close();
      await nats.stop();
    }
  },
});
