import assert from "node:assert/strict";
import { startLogin } from "../helpers/login.ts";
import { natsServerTool } from "../helpers/nats.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";
import { withTwoGates } from "./two_gates.ts";

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
    await withTwoGates({ bFlags: ["--require-services", "login"] }, async ({ a, b }) => {
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
    });
  },
});
