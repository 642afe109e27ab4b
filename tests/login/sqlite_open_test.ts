import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { isLockedError, openWhileLocked } from "../../server/login/sqlite_open.ts";
import { SqliteAccountStore } from "../../server/login/sqlite_account_store.ts";

Deno.test("sqlite open: tried again while the file is locked, then opened", async () => {
  let attempts = 0;
  const value = await openWhileLocked(() => {
    if (++attempts < 3) throw new Error("database is locked");
    return "open";
  });
  assert.equal(value, "open");
  assert.equal(attempts, 3);
});

Deno.test("sqlite open: any other error is thrown at once", async () => {
  let attempts = 0;
  await assert.rejects(
    () =>
      openWhileLocked(() => {
        attempts++;
        throw new Error("file is not a database");
      }),
    /file is not a database/,
  );
  assert.equal(attempts, 1);
});

Deno.test("sqlite open: a lock held past the time is thrown", async () => {
  const started = Date.now();
  await assert.rejects(
    () =>
      openWhileLocked(() => {
        throw new Error("database is locked");
      }, { timeoutMs: 100 }),
    (error: unknown) => isLockedError(error),
  );
  assert.ok(Date.now() - started < 2000, "it gives up near its time");
});

Deno.test("sqlite open: the account store opens a file another connection holds for a moment, even where SQLite does not wait", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_open_" });
  const path = `${dir}/login.sqlite`;
  const holder = new DatabaseSync(path);
  try {
    // A rollback-journal file under an exclusive lock: the switch to WAL cannot wait for it
    // with busy_timeout 0 and answers "database is locked".
    holder.exec("CREATE TABLE other (a)");
    holder.exec("BEGIN EXCLUSIVE");
    const release = setTimeout(() => holder.exec("COMMIT"), 150);
    const store = await SqliteAccountStore.open({ path, busyTimeoutMs: 0 });
    clearTimeout(release);
    assert.equal(holder.isTransaction, false, "opened once the lock was released");
    await store.close();
  } finally {
    if (holder.isTransaction) holder.exec("ROLLBACK");
    holder.close();
    await Deno.remove(dir, { recursive: true });
  }
});
