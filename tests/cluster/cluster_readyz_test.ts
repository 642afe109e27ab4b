import assert from "node:assert/strict";
import { startLogin } from "../helpers/login.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

/** `/readyz`'s status and body. */
async function readyz(httpUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${httpUrl}/readyz`);
  return { status: response.status, body: await response.json() };
}

Deno.test({
  name: "cluster /readyz: a required service linked to another gate makes this one ready",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
    const cluster = (id: string) => ["--cluster", nats.url, "--gate-id", id];
    const a = await startGate({ dataDir, flags: cluster("a") });
    const b = await startGate({
      dataDir,
      flags: [...cluster("b"), "--require-services", "login"],
    });
    try {
      const before = await readyz(b.httpUrl);
      assert.equal(before.status, 503);
      assert.deepEqual(before.body.missing, ["login"]);

      // Login links to gate A only; B's clients reach it through A.
      const login = await startLogin(a);
      try {
        let last = before;
        await waitFor(async () => (last = await readyz(b.httpUrl)).status === 200, {
          what: "gate B ready with login on gate A",
        });
        assert.deepEqual(last.body, { status: "ready" });
      } finally {
        login.kill("SIGKILL");
        await login.status;
      }
      let last = await readyz(b.httpUrl);
      await waitFor(async () => (last = await readyz(b.httpUrl)).status === 503, {
        what: "gate B not ready once login died",
      });
      assert.deepEqual(last.body.missing, ["login"]);
    } finally {
      await a.stop();
      await b.stop();
      await nats.stop();
    }
  },
});
