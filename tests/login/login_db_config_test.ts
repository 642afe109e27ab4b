import assert from "node:assert/strict";
import { PostgresAccountStore } from "../../server/login/postgres_account_store.ts";
import { TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { postgresTool, startPostgres } from "../helpers/postgres.ts";
import { startProcess, tempDataDir } from "../helpers/process.ts";
import { connectClient, freePorts, INTEGRATION } from "../helpers/suite.ts";

const postgres = postgresTool();

Deno.test({
  name: "config key loginDb: the supervisor's login service keeps its accounts in PostgreSQL",
  ...INTEGRATION,
  ignore: postgres.ignore,
  async fn() {
    postgres.check();
    const server = await startPostgres();
    const dataDir = await tempDataDir();
    try {
      const url = await server.createDatabase("supervised");
      const [port, tcpPort, licensePort] = freePorts(3);
      const config = { dataDir, port, tcpPort, licensePort, loginDb: url };
      await Deno.writeTextFile(`${dataDir}/gatehouse.json`, JSON.stringify(config));
      const supervisor = await startProcess({
        task: "supervisor",
        args: ["--config", `${dataDir}/gatehouse.json`],
        ready: /ready web=/,
        timeoutMs: 60_000,
      });
      try {
        const opened = await supervisor.waitForLine(
          /database created kind=postgres location=(\S+)/,
          {
            timeoutMs: 30_000,
          },
        );
        assert.equal(opened[1], `postgres://gatehouse@127.0.0.1:${server.port}/supervised`);
        await supervisor.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
        const client = await connectClient(`ws://127.0.0.1:${port}/ws`);
        const username = uniqueName("sup");
        let userId: number;
        try {
          ({ userId } = await client.register({ username, password: TEST_PASSWORD }));
          const login = await client.login({ username, password: TEST_PASSWORD });
          assert.equal(login.userId, userId);
        } finally {
          client.close();
        }
        const store = await PostgresAccountStore.open({ url });
        try {
          assert.equal((await store.accountByName(username))?.id, userId);
        } finally {
          await store.close();
        }
        await assert.rejects(Deno.stat(`${dataDir}/login.sqlite`), Deno.errors.NotFound);
        assert.ok(
          !supervisor.lines.some((line) => line.includes("test-only-password")),
          "no log line carries the database password",
        );
      } finally {
        await supervisor.stop();
      }
    } finally {
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
