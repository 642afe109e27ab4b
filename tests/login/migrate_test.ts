import assert from "node:assert/strict";
import { PostgresAccountStore } from "../../server/login/postgres_account_store.ts";
import { SqliteAccountStore } from "../../server/login/sqlite_account_store.ts";
import { hashToken, newToken } from "../../server/login/tokens.ts";
import { postgresTool, startPostgres } from "../helpers/postgres.ts";
import { ROOT_DIR } from "../helpers/process.ts";

const postgres = postgresTool();

/** Runs `deno task login:migrate` with `args`; resolves with its exit code and output. */
async function migrate(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "login:migrate", ...args],
    cwd: ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, out: text(output.stdout), err: text(output.stderr) };
}

Deno.test({
  name:
    "login:migrate copies a SQLite store into PostgreSQL keeping ids, hashes and tokens; ids go on after the highest",
  ignore: postgres.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    postgres.check();
    const server = await startPostgres();
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_migrate_" });
    try {
      // A SQLite store with 2,500 accounts (hashes as the service writes them), some tokens, and
      // its highest id deleted, so that the sequence is above the largest id left.
      const sqlite = await SqliteAccountStore.open({ path: `${dir}/login.sqlite` });
      const ids = await Promise.all(
        Array.from({ length: 2500 }, (_, i) =>
          sqlite.createAccount({
            username: `User${String(i).padStart(5, "0")}`,
            passwordHash: `$scrypt$ln=10,r=8,p=1$salt${i}$hash${i}`,
            now: 1000 + i,
          })),
      );
      const tokens = new Map<number, Uint8Array>();
      for (const id of ids.slice(0, 300)) {
        const tokenHash = hashToken(newToken());
        await sqlite.issueLoginToken({ userId: id, tokenHash, expiresAt: 9e12, now: 5 });
        tokens.set(id, tokenHash);
      }
      const deleted = Math.max(...ids);
      await sqlite.deleteAccount(deleted);
      const source = await Promise.all(ids.slice(0, 50).map((id) => sqlite.accountById(id)));
      await sqlite.close();

      const url = await server.createDatabase("migrate1");
      const first = await migrate(["--from", dir, "--to", url]);
      assert.equal(first.code, 0, first.err);
      assert.match(first.out, /copying 2499 accounts and 300 tokens from .*login\.sqlite/);
      assert.match(first.out, /accounts 2499\/2499 copied/);
      assert.match(first.out, /tokens 300\/300 copied/);
      assert.ok(!first.out.includes("test-only-password"), "the password is not printed");

      const pg = await PostgresAccountStore.open({ url });
      try {
        assert.equal(await pg.countAccounts(), 2499);
        for (const account of source) {
          assert.deepEqual(await pg.accountByName(account!.username.toLowerCase()), account);
        }
        for (const [userId, tokenHash] of tokens) {
          assert.equal((await pg.tokenOwner({ tokenHash, now: 10 }))?.userId, userId);
        }
        assert.equal(await pg.accountById(deleted), undefined);
        const next = await pg.createAccount({ username: "after001", passwordHash: "h", now: 1 });
        assert.ok(next > deleted, `the new id ${next} comes after the deleted ${deleted}`);
        await assert.rejects(
          pg.createAccount({ username: "USER00001", passwordHash: "h", now: 1 }),
          /is taken/,
        );
      } finally {
        await pg.close();
      }

      // A non-empty target is refused, and left as it was.
      const again = await migrate(["--from", `${dir}/login.sqlite`, "--to", url]);
      assert.equal(again.code, 1);
      assert.match(again.err, /already holds 2500 accounts and 300 tokens: give --replace/);
      // Unless told: it is emptied first, and the ids still go on after every one given.
      const replaced = await migrate(["--from", dir, "--to", url, "--replace"]);
      assert.equal(replaced.code, 0, replaced.err);
      const pg2 = await PostgresAccountStore.open({ url });
      try {
        assert.equal(await pg2.countAccounts(), 2499);
        assert.equal(await pg2.accountByName("after001"), undefined);
        const next = await pg2.createAccount({ username: "after002", passwordHash: "h", now: 1 });
        assert.ok(next > deleted + 1, `the new id ${next} is not one given before`);
      } finally {
        await pg2.close();
      }

      const missing = await migrate(["--from", `${dir}/nothing`, "--to", url]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /No SQLite store at/);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
