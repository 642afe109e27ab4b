/**
 * `deno task backup` (issue 19, production): a copy taken while the login service is writing
 * opens, passes its integrity check, and holds every account acknowledged before the backup
 * started; the service key is copied with its mode; a second backup never overwrites the first.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { GateClient } from "../../client/mod.ts";
import { startLogin, TEST_PASSWORD } from "../helpers/login.ts";
import { ROOT_DIR, taskArgs } from "../helpers/process.ts";
import { connectClient, INTEGRATION, startGate } from "../helpers/suite.ts";
import { runTaskOk, startLicenseServer } from "../license/license_fixtures.ts";

/** Runs `deno task backup` with `args`; its exit code and output. */
async function runBackup(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs("backup"), ...args],
    cwd: ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test({
  name: "backup: a copy taken while login writes holds every account acknowledged before it",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const login = await startLogin(gate);
    // The license server in the same data dir: license.sqlite and the license files too.
    await runTaskOk("license:keygen", ["--data-dir", gate.dataDir]);
    await runTaskOk("license:issue", [
      "--data-dir",
      gate.dataDir,
      "--customer",
      "Backup Co",
      "--seats",
      "3",
      "--expires",
      "2099-12-31",
    ]);
    const license = await startLicenseServer({ dataDir: gate.dataDir });
    const clients: GateClient[] = [];
    const target = `${gate.dataDir}-backup`;
    try {
      for (let i = 0; i < 4; i++) clients.push(await connectClient(gate.wsUrl));
      /** Each acknowledged registration, with when its answer arrived. */
      const acknowledged: Array<{ username: string; at: number }> = [];
      let writing = true;
      let serial = 0;
      const writers = clients.map(async (client, w) => {
        while (writing) {
          const username = `bk${w}n${serial++}`.padEnd(6, "x");
          await client.register({ username, password: TEST_PASSWORD });
          acknowledged.push({ username, at: performance.now() });
        }
      });
      while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 20));

      const startedAt = performance.now();
      const before = acknowledged.filter((a) => a.at < startedAt).map((a) => a.username);
      const result = await runBackup(["--data-dir", gate.dataDir, "--to", target]);
      const countAtEnd = acknowledged.length;
      // Keep writing a moment after, so that the writes surely overlapped the backup.
      await new Promise((r) => setTimeout(r, 100));
      writing = false;
      await Promise.all(writers);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^login\.sqlite\tdatabase\t\d+ bytes$/m);
      assert.deepEqual(
        result.stdout.split("\n").filter((l) => l.includes("\t")).map((l) => l.split("\t")[0]),
        ["login.sqlite", "license.sqlite", "sskey", "license.json", "license.pub", "license.key"],
      );
      assert.equal(
        await Deno.readTextFile(`${target}/license.json`),
        await Deno.readTextFile(`${gate.dataDir}/license.json`),
      );
      const audit = new DatabaseSync(`${target}/license.sqlite`, { readOnly: true });
      try {
        const check = audit.prepare("PRAGMA integrity_check").get() as Record<string, string>;
        assert.equal(check.integrity_check, "ok");
      } finally {
        audit.close();
      }
      assert.ok(countAtEnd > before.length, "registrations went on during the backup");

      const copy = new DatabaseSync(`${target}/login.sqlite`, { readOnly: true });
      try {
        const check = copy.prepare("PRAGMA integrity_check").get() as Record<string, string>;
        assert.equal(check.integrity_check, "ok");
        const names = new Set(
          (copy.prepare("SELECT username FROM accounts").all() as Array<{ username: string }>)
            .map((row) => row.username),
        );
        const missing = before.filter((username) => !names.has(username));
        assert.deepEqual(missing, [], `${before.length} acknowledged before the backup`);
      } finally {
        copy.close();
      }
      assert.equal(
        await Deno.readTextFile(`${target}/sskey`),
        await Deno.readTextFile(`${gate.dataDir}/sskey`),
      );
      assert.equal((await Deno.stat(`${target}/sskey`)).mode! & 0o777, 0o600);

      const again = await runBackup(["--data-dir", gate.dataDir, "--to", target]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /The backup folder .* is not empty: give a new one/);
      const noTarget = await runBackup(["--data-dir", gate.dataDir]);
      assert.equal(noTarget.code, 2);
      assert.equal(noTarget.stderr.trim().split("\n")[1], "Run with --help for the flags");
    } finally {
      for (const client of clients) client.close();
      await login.stop();
      await license.stop();
      await gate.stop();
      await Deno.remove(target, { recursive: true }).catch(() => {});
      await Deno.remove(gate.dataDir, { recursive: true }).catch(() => {});
    }
  },
});
