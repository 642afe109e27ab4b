import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AccountGoneError, UsernameTakenError } from "../../server/login/account_store.ts";
import {
  SCHEMA_VERSION,
  SqliteAccountStore as AccountStore,
} from "../../server/login/sqlite_account_store.ts";
import { hashToken, newToken } from "../../server/login/tokens.ts";

const HASH = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

async function withStore(fn: (store: AccountStore, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_store_" });
  const path = `${dir}/sub/login.sqlite`;
  const store = await AccountStore.open({ path });
  try {
    await fn(store, path);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sqlite account store: a new database is WAL, FULL, private, and at the schema version", async () => {
  await withStore(async (store, path) => {
    assert.equal(store.created, true);
    assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
    assert.equal(SCHEMA_VERSION >= 1, true);
    // synchronous 2 is FULL: a commit returns after the WAL is synced.
    assert.deepEqual(store.settings, { journalMode: "wal", synchronous: 2, foreignKeys: true });
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()!.journal_mode, "wal");
    } finally {
      db.close();
    }
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    }
  });
});

Deno.test("sqlite account store: accounts survive reopening, and usernames ignore case", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_store_" });
  const path = `${dir}/login.sqlite`;
  try {
    let store = await AccountStore.open({ path });
    const id = await store.createAccount({ username: "Alice01", passwordHash: HASH, now: 1000 });
    await assert.rejects(
      store.createAccount({ username: "aLICE01", passwordHash: HASH, now: 1001 }),
      UsernameTakenError,
    );
    await store.close();
    store = await AccountStore.open({ path });
    assert.equal(store.created, false);
    const account = await store.accountByName("alice01");
    assert.deepEqual(account, {
      id,
      username: "Alice01",
      passwordHash: HASH,
      createdAt: 1000,
      passwordChangedAt: 1000,
    });
    assert.equal((await store.accountById(id))?.username, "Alice01");
    assert.equal(await store.countAccounts(), 1);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite account store: SQL in a username is data, not SQL", async () => {
  await withStore(async (store) => {
    await store.createAccount({ username: "bob0001", passwordHash: HASH, now: 1 });
    assert.equal(await store.accountByName("' OR 1=1 --"), undefined);
    assert.equal(await store.accountByName("bob0001' --"), undefined);
    const id = await store.createAccount({
      username: "x'); DROP TABLE accounts; --",
      passwordHash: HASH,
      now: 1,
    });
    assert.equal((await store.accountById(id))?.username, "x'); DROP TABLE accounts; --");
    assert.equal(await store.countAccounts(), 2);
  });
});

Deno.test("sqlite account store: tokens are stored hashed, expire, and are revoked", async () => {
  await withStore(async (store, path) => {
    const userId = await store.createAccount({ username: "carol01", passwordHash: HASH, now: 1 });
    const token = newToken();
    await store.issueLoginToken({ userId, tokenHash: hashToken(token), expiresAt: 5000, now: 1 });
    const owner = await store.tokenOwner({ tokenHash: hashToken(token), now: 4999 });
    assert.equal(owner?.userId, userId);
    assert.equal(owner?.username, "carol01");
    assert.equal(owner?.expiresAt, 5000);
    assert.equal(
      await store.tokenOwner({ tokenHash: hashToken(token), now: 5000 }),
      undefined,
      "expired",
    );
    // Only the hash is on disk.
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare("SELECT token_hash FROM tokens").all();
      assert.equal(rows.length, 1);
      assert.equal((rows[0].token_hash as Uint8Array).length, 32);
    } finally {
      db.close();
    }
    // A new password login replaces the earlier token.
    const second = newToken();
    await store.issueLoginToken({ userId, tokenHash: hashToken(second), expiresAt: 9000, now: 2 });
    assert.equal(await store.tokenOwner({ tokenHash: hashToken(token), now: 3 }), undefined);
    assert.equal(
      (await store.tokenOwner({ tokenHash: hashToken(second), now: 3 }))?.userId,
      userId,
    );
    assert.equal(await store.revokeTokens(userId), 1);
    assert.equal(await store.tokenOwner({ tokenHash: hashToken(second), now: 3 }), undefined);
    // Pruning.
    await store.issueLoginToken({
      userId,
      tokenHash: hashToken(newToken()),
      expiresAt: 10,
      now: 2,
    });
    assert.equal(await store.pruneTokens(10), 1);
  });
});

Deno.test("sqlite account store: a login re-hash does not overwrite a password changed meanwhile", async () => {
  await withStore(async (store) => {
    const userId = await store.createAccount({ username: "dave001", passwordHash: "old", now: 1 });
    await store.issueLoginToken({
      userId,
      tokenHash: hashToken(newToken()),
      expiresAt: 100,
      now: 2,
      rehash: { from: "old", to: "stronger" },
    });
    assert.equal((await store.accountById(userId))?.passwordHash, "stronger");
    await store.issueLoginToken({
      userId,
      tokenHash: hashToken(newToken()),
      expiresAt: 100,
      now: 3,
      rehash: { from: "old", to: "stale" },
    });
    assert.equal((await store.accountById(userId))?.passwordHash, "stronger");
  });
});

Deno.test("sqlite account store: change password revokes every token and keeps the new one", async () => {
  await withStore(async (store) => {
    const userId = await store.createAccount({ username: "erin001", passwordHash: HASH, now: 1 });
    const old = hashToken(newToken());
    await store.issueLoginToken({ userId, tokenHash: old, expiresAt: 100, now: 1 });
    const fresh = hashToken(newToken());
    await store.changePassword({
      userId,
      passwordHash: "new",
      tokenHash: fresh,
      expiresAt: 200,
      now: 5,
    });
    assert.equal(await store.tokenOwner({ tokenHash: old, now: 6 }), undefined);
    assert.equal((await store.tokenOwner({ tokenHash: fresh, now: 6 }))?.userId, userId);
    const account = (await store.accountById(userId))!;
    assert.equal(account.passwordHash, "new");
    assert.equal(account.passwordChangedAt, 5);
  });
});

Deno.test("sqlite account store: deleting an account deletes its tokens; ids are not reused", async () => {
  await withStore(async (store) => {
    const userId = await store.createAccount({ username: "frank01", passwordHash: HASH, now: 1 });
    const tokenHash = hashToken(newToken());
    await store.issueLoginToken({ userId, tokenHash, expiresAt: 100, now: 1 });
    assert.equal(await store.deleteAccount(userId), true);
    assert.equal(await store.deleteAccount(userId), false);
    assert.equal(await store.tokenOwner({ tokenHash, now: 2 }), undefined);
    await assert.rejects(
      store.issueLoginToken({ userId, tokenHash: hashToken(newToken()), expiresAt: 100, now: 2 }),
      AccountGoneError,
    );
    const again = await store.createAccount({ username: "frank01", passwordHash: HASH, now: 3 });
    assert.notEqual(again, userId);
  });
});

Deno.test("sqlite account store: a database newer than the program is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_store_" });
  const path = `${dir}/login.sqlite`;
  try {
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await assert.rejects(AccountStore.open({ path }), /newer than this program/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite account store: writes in one tick share a commit", async () => {
  await withStore(async (store) => {
    const before = store.writerStats.commits;
    const ids = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          store.createAccount({
            username: `batch${String(i).padStart(3, "0")}`,
            passwordHash: HASH,
            now: 1,
          }),
      ),
    );
    assert.equal(new Set(ids).size, 50);
    assert.equal(store.writerStats.commits - before, 1);
  });
});

Deno.test("sqlite account store: a taken username among good writes fails only its own write", async () => {
  await withStore(async (store, path) => {
    await store.createAccount({ username: "Taken01", passwordHash: HASH, now: 1 });
    const before = store.writerStats;
    const names = ["good001", "good002", "TAKEN01", "good003", "good004"];
    const results = await Promise.allSettled(
      names.map((username) => store.createAccount({ username, passwordHash: HASH, now: 2 })),
    );
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    assert.ok((results[2] as PromiseRejectedResult).reason instanceof UsernameTakenError);
    assert.equal(store.writerStats.commits - before.commits, 1, "one transaction");
    // Every OK is on disk, seen from another connection.
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = db.prepare("SELECT username FROM accounts ORDER BY username").all()
        .map((r) => r.username);
      assert.deepEqual(rows, ["good001", "good002", "good003", "good004", "Taken01"]); // NOCASE order
    } finally {
      db.close();
    }
    for (const [i, result] of results.entries()) {
      if (result.status === "fulfilled") {
        assert.equal((await store.accountByName(names[i]))?.id, result.value);
      }
    }
  });
});

Deno.test("sqlite account store: two sign-ups in one batch race for a name: exactly one wins", async () => {
  await withStore(async (store) => {
    const before = store.writerStats.commits;
    const results = await Promise.allSettled([
      store.createAccount({ username: "other01", passwordHash: HASH, now: 1 }),
      store.createAccount({ username: "Racer01", passwordHash: HASH, now: 1 }),
      store.createAccount({ username: "racer01", passwordHash: HASH, now: 2 }),
      store.createAccount({ username: "other02", passwordHash: HASH, now: 1 }),
    ]);
    assert.equal(store.writerStats.commits - before, 1, "one transaction");
    const racers = results.slice(1, 3);
    assert.equal(racers.filter((r) => r.status === "fulfilled").length, 1);
    const lost = racers.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(lost.reason instanceof UsernameTakenError);
    assert.equal(results[0].status, "fulfilled");
    assert.equal(results[3].status, "fulfilled");
    const winner = await store.accountByName("RACER01");
    assert.equal(winner?.username, "Racer01", "the first queued wins");
    assert.equal(winner?.createdAt, 1);
    assert.equal(await store.countAccounts(), 3);
  });
});
