import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { UsernameTakenError } from "../../server/login/account_store.ts";
import { SqliteAccountStore } from "../../server/login/sqlite_account_store.ts";

/** Two stores on one fresh file, and a third connection to hold its write lock with. */
async function twoStores(
  options: { busyTimeoutMs?: number } = {},
): Promise<
  { a: SqliteAccountStore; b: SqliteAccountStore; holder: DatabaseSync; done(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_lock_" });
  const path = `${dir}/login.sqlite`;
  const a = await SqliteAccountStore.open({ path });
  const b = await SqliteAccountStore.open({ path, busyTimeoutMs: options.busyTimeoutMs });
  const holder = new DatabaseSync(path);
  return {
    a,
    b,
    holder,
    async done() {
      if (holder.isTransaction) holder.exec("ROLLBACK");
      holder.close();
      await a.close();
      await b.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Counts the ticks of a 5 ms interval: they go on only while the event loop is free. */
function ticker(): { ticks(): number; stop(): void } {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  return { ticks: () => ticks, stop: () => clearInterval(timer) };
}

const hash = "$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA";

Deno.test("sqlite lock: writes wait for another connection's lock without blocking the event loop", async () => {
  const { a, b, holder, done } = await twoStores();
  const clock = ticker();
  try {
    holder.exec("BEGIN IMMEDIATE");
    let settled = 0;
    const writes = [
      ...Array.from(
        { length: 10 },
        (_, i) => b.createAccount({ username: `bee${i}xx`, passwordHash: hash, now: 1 }),
      ),
      ...Array.from(
        { length: 10 },
        (_, i) => a.createAccount({ username: `ant${i}xx`, passwordHash: hash, now: 1 }),
      ),
    ].map((write) => write.finally(() => settled++));
    const before = clock.ticks();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Timers ran while both stores kept trying (a blocked loop would show ~0 ticks; a free one
    // ~60, fewer on a loaded machine).
    assert.ok(clock.ticks() - before >= 5, `only ${clock.ticks() - before} ticks in 300 ms`);
    assert.equal(settled, 0, "no write may settle before its commit");
    assert.ok(b.writerStats.lockBusy > 0 && a.writerStats.lockBusy > 0);
    // More writes made meanwhile join the waiting batch.
    const late = b.createAccount({ username: "beelate1", passwordHash: hash, now: 1 });
    holder.exec("COMMIT");
    const ids = await Promise.all([...writes, late]);
    assert.equal(new Set(ids).size, 21);
    // Committed: the other store reads every one of them.
    for (const name of ["bee0xx", "bee9xx", "ant0xx", "ant9xx", "beelate1"]) {
      assert.ok(await a.accountByName(name), `${name} was not committed`);
      assert.ok(await b.accountByName(name), `${name} was not committed`);
    }
    assert.equal(await a.countAccounts(), 21);
    assert.ok(b.writerStats.lockWaitMs >= 200);
  } finally {
    clock.stop();
    await done();
  }
});

Deno.test("sqlite lock: a bad write waiting for the lock still fails alone", async () => {
  const { b, holder, done } = await twoStores();
  try {
    holder.exec("BEGIN IMMEDIATE");
    const results = Promise.allSettled([
      b.createAccount({ username: "twin0001", passwordHash: hash, now: 1 }),
      b.createAccount({ username: "TWIN0001", passwordHash: hash, now: 1 }),
      b.createAccount({ username: "other001", passwordHash: hash, now: 1 }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    holder.exec("COMMIT");
    const [first, second, third] = await results;
    assert.equal(first.status, "fulfilled");
    assert.equal(third.status, "fulfilled");
    assert.equal(second.status, "rejected");
    assert.ok((second as PromiseRejectedResult).reason instanceof UsernameTakenError);
    assert.equal(await b.countAccounts(), 2);
  } finally {
    await done();
  }
});

Deno.test("sqlite lock: a lock held past busy_timeout fails the batch, and later writes commit", async () => {
  const { b, holder, done } = await twoStores({ busyTimeoutMs: 200 });
  const clock = ticker();
  try {
    holder.exec("BEGIN IMMEDIATE");
    const started = performance.now();
    const before = clock.ticks();
    await assert.rejects(
      b.createAccount({ username: "waiter01", passwordHash: hash, now: 1 }),
      /database is locked/,
    );
    const waited = performance.now() - started;
    assert.ok(waited >= 190, `failed after ${waited} ms, before busy_timeout`);
    assert.ok(clock.ticks() - before >= 10, "the event loop was blocked while waiting");
    holder.exec("COMMIT");
    assert.ok(await b.createAccount({ username: "waiter01", passwordHash: hash, now: 1 }) > 0);
  } finally {
    clock.stop();
    await done();
  }
});
