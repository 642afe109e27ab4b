import assert from "node:assert/strict";
import { ResponseError } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import { DATABASE_UNREACHABLE } from "../../server/login/store_failures.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { postgresTool, startPostgres } from "../helpers/postgres.ts";
import { connectClient, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

const postgres = postgresTool();

/** The request's failure: its state and message. */
async function refusal(request: Promise<unknown>): Promise<{ state: number; msg: string }> {
  try {
    await request;
  } catch (error) {
    assert.ok(error instanceof ResponseError, `not a response error: ${error}`);
    return { state: error.state, msg: error.msg };
  }
  assert.fail("the request succeeded while the database was down");
}

Deno.test({
  name: "login with PostgreSQL down: a clear SERVER_BUSY, one warning, and back when it returns",
  ...INTEGRATION,
  ignore: postgres.ignore,
  async fn() {
    postgres.check();
    const server = await startPostgres();
    const gate = await startGate();
    try {
      const url = await server.createDatabase("downtest");
      const login = await startLogin(gate, { flags: ["--db", url] });
      const client = await connectClient(gate.wsUrl);
      try {
        const username = uniqueName("down");
        const { userId } = await client.register({ username, password: TEST_PASSWORD });

        await server.halt();
        const from = login.lines.length;
        const answers = [
          await refusal(client.register({ username: uniqueName("down"), password: TEST_PASSWORD })),
          await refusal(client.login({ username, password: TEST_PASSWORD })),
          await refusal(client.register({ username: uniqueName("down"), password: TEST_PASSWORD })),
        ];
        for (const answer of answers) {
          assert.deepEqual(answer, { state: State.SERVER_BUSY, msg: DATABASE_UNREACHABLE });
        }
        const warnings = login.lines.slice(from).filter((line) =>
          line.includes("accounts database unreachable")
        );
        assert.equal(warnings.length, 1, `one warning for the burst:\n${warnings.join("\n")}`);
        assert.ok(
          !login.lines.some((line) => line.includes("test-only-password")),
          "no log line carries the database password",
        );

        await server.restart();
        // The login service stayed up and reconnects on its own.
        let answer: { userId: number } | undefined;
        await waitFor(async () => {
          try {
            answer = await client.login({ username, password: TEST_PASSWORD });
            return true;
          } catch (error) {
            assert.ok(
              error instanceof ResponseError && error.state === State.SERVER_BUSY,
              `${error}`,
            );
            return false;
          }
        }, { timeoutMs: 15_000, what: "a login after PostgreSQL came back" });
        assert.equal(answer?.userId, userId);
        const later = await client.register({
          username: uniqueName("back"),
          password: TEST_PASSWORD,
        });
        assert.ok(later.userId > userId);
        await login.waitForLine(/accounts database reachable again/, { timeoutMs: 1000, from });
      } finally {
        client.close();
        assert.equal(await login.stop(), 0);
      }
    } finally {
      await gate.stop();
      await server.stop();
    }
  },
});
