/**
 * The PostgreSQL that `deno task cluster` runs (local_postgres.ts): made with initdb under the
 * data dir, on loopback with a password, reused by the next start, a stale one ended, and
 * `stop()` leaving no process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { formatLogLine, type Logger, type LogLevel } from "../../server/log.ts";
import { startLocalPostgres } from "../../server/supervisor/local_postgres.ts";
import { INTEGRATION } from "../helpers/suite.ts";
import { localPostgresTool } from "../helpers/postgres.ts";
import { processAlive } from "../helpers/process.ts";

const { binDir, tool: postgres } = await localPostgresTool();

/** psql's answer to `sql` at `url`, and whether it succeeded. */
async function psql(url: string, sql: string): Promise<{ ok: boolean; out: string }> {
  const output = await new Deno.Command(`${binDir}/psql`, {
    args: [url, "-tAc", sql],
    stdout: "piped",
    stderr: "piped",
    env: { PGCONNECT_TIMEOUT: "5" },
  }).output();
  const out = new TextDecoder().decode(output.success ? output.stdout : output.stderr).trim();
  return { ok: output.success, out };
}

Deno.test({
  name: "local postgres: loopback with a password, kept across starts, a stale one ended, stopped",
  ...INTEGRATION,
  ignore: postgres.ignore,
  async fn() {
    postgres.check();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_pg_" });
    await Deno.chmod(dataDir, 0o711);
    const lines: string[] = [];
    const write = (level: LogLevel) => (event: string, fields?: Record<string, unknown>) =>
      void lines.push(formatLogLine({ level, name: "test", event, fields, format: "text" }));
    const log: Logger = {
      debug: write("debug"),
      info: write("info"),
      warn: write("warn"),
      error: write("error"),
    };
    try {
      const first = await startLocalPostgres({ binDir: binDir!, dataDir, log });
      assert.ok(processAlive(first.pid));
      assert.match(first.url, /^postgres:\/\/gatehouse:[0-9a-f]{48}@127\.0\.0\.1:\d+\/gatehouse$/);
      assert.ok(!lines.some((line) => line.includes(first.url)), "the password is never logged");
      assert.deepEqual(
        await psql(first.url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"),
        {
          ok: true,
          out: "CREATE TABLE\nINSERT 0 1",
        },
      );
      const wrong = first.url.replace(/:[0-9a-f]{48}@/, ":wrong@");
      const refused = await psql(wrong, "SELECT 1");
      assert.equal(refused.ok, false);
      assert.match(refused.out, /password authentication failed/);
      const mode = (await Deno.stat(`${dataDir}/postgres.json`)).mode! & 0o777;
      assert.equal(mode, 0o600);
      const settings = await Deno.readTextFile(`${first.dataDir}/gatehouse.conf`);
      assert.match(settings, /^listen_addresses = '127\.0\.0\.1'$/m);

      // A run killed without stopping its PostgreSQL: the next start ends it, then starts anew.
      const second = await startLocalPostgres({ binDir: binDir!, dataDir, log });
      assert.ok(lines.some((line) => /ending stale postgres/.test(line)));
      assert.equal(processAlive(first.pid), false, "the stale postmaster was stopped");
      assert.equal(second.url.split("@")[0], first.url.split("@")[0], "the same password");
      assert.deepEqual(await psql(second.url, "SELECT n FROM kept"), { ok: true, out: "7" });
      await second.stop();
      assert.equal(processAlive(second.pid), false);
      await assert.rejects(Deno.stat(`${second.dataDir}/postmaster.pid`));
    } finally {
      const status = await new Deno.Command(`${binDir}/pg_ctl`, {
        args: ["status", "-D", `${dataDir}/postgres/data`],
        stdout: "null",
        stderr: "null",
      }).output();
      if (status.success) {
        await new Deno.Command("runuser", {
          args: [
            "-u",
            "postgres",
            "--",
            `${binDir}/pg_ctl`,
            "stop",
            "-D",
            `${dataDir}/postgres/data`,
            "-m",
            "immediate",
          ],
        }).output();
      }
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
