import assert from "node:assert/strict";
import { startLogin } from "../helpers/login.ts";
import { INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

/** `/readyz`'s status and body. */
async function readyz(httpUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${httpUrl}/readyz`);
  return { status: response.status, body: await response.json() };
}

Deno.test({
  name: "gate /readyz: 503 while login is down, 200 once it links, 503 after it dies",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate({ flags: ["--require-services", "login"] });
    try {
      const before = await readyz(gate.httpUrl);
      assert.equal(before.status, 503);
      assert.equal(before.body.status, "not ready");
      assert.deepEqual(before.body.missing, ["login"]);
      // Liveness is another question: the gate itself is fine.
      assert.equal((await fetch(`${gate.httpUrl}/healthz`)).status, 200);

      const login = await startLogin(gate);
      try {
        // startLogin resolved on "registered": the link exists now.
        const after = await readyz(gate.httpUrl);
        assert.equal(after.status, 200);
        assert.deepEqual(after.body, { status: "ready" });
      } finally {
        login.kill("SIGKILL");
        await login.status;
      }
      let last = await readyz(gate.httpUrl);
      await waitFor(async () => (last = await readyz(gate.httpUrl)).status === 503, {
        what: "/readyz to answer 503 after login died",
      });
      assert.deepEqual(last.body.missing, ["login"]);
    } finally {
      await gate.stop();
    }
  },
});

Deno.test({
  name: "gate /readyz: ready at once without --require-services; a bad name is a flag error",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    try {
      assert.deepEqual(await readyz(gate.httpUrl), { status: 200, body: { status: "ready" } });
    } finally {
      await gate.stop();
    }
    const { parseGateArgs } = await import("../../server/gate/options.ts");
    assert.deepEqual(
      parseGateArgs(["--require-services", "login, group", "--require-services", "login"]).options
        .requireServices,
      ["login", "group"],
    );
    assert.throws(() => parseGateArgs(["--require-services", "login,,group"]), {
      message: `Flag --require-services takes service names of letters, digits, '_', '.' or '-', ` +
        `not ""`,
    });
  },
});
