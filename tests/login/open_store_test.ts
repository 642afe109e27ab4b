import assert from "node:assert/strict";
import { checkDbFlag, openAccountStore, sqlitePathOf } from "../../server/login/open_store.ts";
import { describePostgresUrl } from "../../server/login/postgres_account_store.ts";

Deno.test("open store: without --db the accounts are in <data-dir>/login.sqlite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_open_store_" });
  try {
    const store = await openAccountStore({ dataDir: `${dir}/` });
    try {
      assert.equal(store.kind, "sqlite");
      assert.equal(store.location, `${dir}/login.sqlite`);
      assert.equal(sqlitePathOf(`${dir}/`), `${dir}/login.sqlite`);
      assert.equal(store.created, true);
      assert.equal(await store.countAccounts(), 0);
    } finally {
      await store.close();
    }
    assert.ok((await Deno.stat(`${dir}/login.sqlite`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("open store: --db must be a postgres:// URL naming a database", () => {
  checkDbFlag("postgres://u:p@db.example:5432/gatehouse");
  checkDbFlag("postgresql://u@10.0.0.5/accounts");
  const cases: [string, RegExp][] = [
    [
      "mysql://u:p@h/db",
      /Flag --db must be postgres:\/\/.*must start with postgres:\/\/, not mysql:/,
    ],
    ["postgres://u:p@h:5432", /Flag --db must be postgres:\/\/.*names no database/],
    ["not a url", /Flag --db must be postgres:\/\/.*is not a URL/],
  ];
  for (const [value, message] of cases) assert.throws(() => checkDbFlag(value), message);
});

Deno.test("open store: the location in logs has no password", () => {
  assert.equal(
    describePostgresUrl("postgres://gate:s3cret@db.example:5432/gatehouse"),
    "postgres://gate@db.example:5432/gatehouse",
  );
  assert.ok(!describePostgresUrl("postgres://gate:s3cret@h/db").includes("s3cret"));
});
