/**
 * The accounts-store conformance suite: what every {@linkcode AccountStore} must do, run against
 * each store by a test file of its own (sqlite_store_conformance_test.ts,
 * postgres_store_conformance_test.ts). Part of it goes through the store's API; part through real
 * processes: two login services on one gate sharing the store, and several starting at once on a
 * fresh store.
 *
 * @example
 * ```ts ignore
 * Deno.test({ name: "sqlite store conformance", async fn(t) {
 *   await runConformance(t, { fresh: freshSqliteStore });
 * } });
 * ```
 * @module
 */

import assert from "node:assert/strict";
import { type GateClient, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import {
  AccountGoneError,
  type AccountStore,
  UsernameTakenError,
} from "../../server/login/account_store.ts";
import { hashToken, newToken } from "../../server/login/tokens.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { connectClient, type GateProcess, startGate } from "../helpers/suite.ts";

const HASH = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

/** A fresh, empty store location of the engine under test. */
export interface FreshStore {
  /** Opens a store on it (each call a new instance: a connection of its own). */
  open(): Promise<AccountStore>;
  /** The login service's flags that use it (`--db …`), none for SQLite in the gate's data dir. */
  loginFlags: string[];
  /**
   * The data dir the login services must use, when the store lives there (SQLite); the gate is
   * started on it.
   */
  dataDir?: string;
  /** Removes what it made. */
  cleanup(): Promise<void>;
}

/** What a store's conformance test file gives the suite. */
export interface ConformanceTarget {
  /** A fresh store for one step. */
  fresh(): Promise<FreshStore>;
}

async function withStores(
  target: ConformanceTarget,
  fn: (fresh: FreshStore) => Promise<void>,
): Promise<void> {
  const fresh = await target.fresh();
  try {
    await fn(fresh);
  } finally {
    await fresh.cleanup();
  }
}

/** Registers `username` on the gate; resolves with the answer's state and data. */
async function register(
  client: GateClient,
  username: string,
): Promise<{ state: number; msg: string }> {
  const response = await client.request(LoginCmd.REGISTER, { username, password: TEST_PASSWORD });
  return { state: response.state, msg: String(response.msg) };
}

/** A gate with `count` login services sharing the store, started at once. */
async function gateWithLogins(
  fresh: FreshStore,
  count: number,
): Promise<{ gate: GateProcess; logins: RunningProcess[]; stop(): Promise<void> }> {
  const gate = await startGate({ dataDir: fresh.dataDir });
  const started = await Promise.allSettled(
    Array.from(
      { length: count },
      (_, i) => startLogin(gate, { flags: ["--name", `login${i}`, ...fresh.loginFlags] }),
    ),
  );
  const logins = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const stop = async () => {
    for (const login of logins) await login.stop();
    await gate.stop();
  };
  const failed = started.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { gate, logins, stop };
}

/** The usernames a login service's log says it registered. */
function registeredBy(login: RunningProcess): Set<string> {
  return new Set(
    login.lines.flatMap((line) => {
      const m = line.match(/account registered .*username=(\w+)/);
      return m ? [m[1]] : [];
    }),
  );
}

/** The user ids a login service's log says it logged in by password. */
function loggedInBy(login: RunningProcess): Set<number> {
  return new Set(
    login.lines.flatMap((line) => {
      const m = line.match(/ logged in userId=(\d+)/);
      return m ? [Number(m[1])] : [];
    }),
  );
}

/** Runs the conformance steps against one engine. */
export async function runConformance(
  t: Deno.TestContext,
  target: ConformanceTarget,
): Promise<void> {
  await t.step(
    "one OK among 200 concurrent registrations of one name and its case variants, on two instances",
    async () => {
      await withStores(target, async (fresh) => {
        const a = await fresh.open();
        const b = await fresh.open();
        try {
          const variants = ["Racer01", "racer01", "RACER01", "rAcEr01"];
          const results = await Promise.allSettled(
            Array.from({ length: 200 }, (_, i) =>
              (i % 2 === 0 ? a : b).createAccount({
                username: variants[i % variants.length],
                passwordHash: HASH,
                now: i,
              })),
          );
          const ok = results.filter((r) => r.status === "fulfilled");
          assert.equal(ok.length, 1, "exactly one registration is OK");
          for (const r of results) {
            if (r.status === "rejected") {
              assert.ok(r.reason instanceof UsernameTakenError, `taken, not ${r.reason}`);
            }
          }
          assert.equal(await a.countAccounts(), 1);
          assert.equal(await b.countAccounts(), 1);
          const id = (ok[0] as PromiseFulfilledResult<number>).value;
          for (const name of variants) assert.equal((await b.accountByName(name))?.id, id);
          // Good writes of the same batches still commit next to the taken ones.
          const mixed = await Promise.allSettled([
            a.createAccount({ username: "fresh001", passwordHash: HASH, now: 1 }),
            a.createAccount({ username: "RACER01", passwordHash: HASH, now: 1 }),
            a.createAccount({ username: "fresh002", passwordHash: HASH, now: 1 }),
          ]);
          assert.deepEqual(mixed.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
          assert.equal(await b.countAccounts(), 3);
        } finally {
          await a.close();
          await b.close();
        }
      });
    },
  );

  await t.step("a write that fails in the database fails alone; its batch commits", async () => {
    await withStores(target, async (fresh) => {
      const store = await fresh.open();
      try {
        const ids = await Promise.all(
          ["bad00001", "bad00002", "bad00003"].map((username) =>
            store.createAccount({ username, passwordHash: HASH, now: 1 })
          ),
        );
        const good = ids.map(() => hashToken(newToken()));
        const before = store.writerStats.failedWrites;
        // A 31-byte token hash breaks the schema's CHECK: that statement fails in the database.
        const results = await Promise.allSettled([
          store.issueLoginToken({ userId: ids[0], tokenHash: good[0], expiresAt: 99, now: 1 }),
          store.issueLoginToken({
            userId: ids[1],
            tokenHash: new Uint8Array(31),
            expiresAt: 99,
            now: 1,
          }),
          store.issueLoginToken({ userId: ids[2], tokenHash: good[2], expiresAt: 99, now: 1 }),
          store.createAccount({ username: "bad00004", passwordHash: HASH, now: 1 }),
        ]);
        assert.deepEqual(results.map((r) => r.status), [
          "fulfilled",
          "rejected",
          "fulfilled",
          "fulfilled",
        ]);
        assert.equal(store.writerStats.failedWrites - before, 1);
        assert.equal((await store.tokenOwner({ tokenHash: good[0], now: 2 }))?.userId, ids[0]);
        assert.equal((await store.tokenOwner({ tokenHash: good[2], now: 2 }))?.userId, ids[2]);
        assert.equal((await store.accountByName("bad00004"))?.username, "bad00004");
      } finally {
        await store.close();
      }
    });
  });

  await t.step("ids are never reused after a delete, across reopening", async () => {
    await withStores(target, async (fresh) => {
      let store = await fresh.open();
      const first = await store.createAccount({ username: "ids00001", passwordHash: HASH, now: 1 });
      const last = await store.createAccount({ username: "ids00002", passwordHash: HASH, now: 1 });
      assert.ok(last > first);
      assert.equal(await store.deleteAccount(last), true);
      assert.equal(await store.deleteAccount(last), false);
      const next = await store.createAccount({ username: "ids00003", passwordHash: HASH, now: 1 });
      assert.ok(next > last, `id ${next} comes after the deleted ${last}`);
      assert.equal(await store.deleteAccount(next), true);
      await store.close();
      store = await fresh.open();
      try {
        const again = await store.createAccount({
          username: "ids00002",
          passwordHash: HASH,
          now: 2,
        });
        assert.ok(again > next, `id ${again} after reopening comes after the deleted ${next}`);
        assert.equal(await store.accountById(last), undefined);
        assert.equal((await store.accountByName("IDS00002"))?.id, again);
      } finally {
        await store.close();
      }
    });
  });

  await t.step(
    "a token is valid until revoked or expired; an account's delete takes its tokens",
    async () => {
      await withStores(target, async (fresh) => {
        const store = await fresh.open();
        const other = await fresh.open();
        try {
          const userId = await store.createAccount({
            username: "tok00001",
            passwordHash: HASH,
            now: 1,
          });
          const token = hashToken(newToken());
          await store.issueLoginToken({ userId, tokenHash: token, expiresAt: 5000, now: 1 });
          const owner = await other.tokenOwner({ tokenHash: token, now: 4999 });
          assert.equal(owner?.userId, userId);
          assert.equal(owner?.username, "tok00001");
          assert.equal(owner?.expiresAt, 5000);
          assert.deepEqual([...owner!.tokenHash], [...token]);
          assert.equal(
            await other.tokenOwner({ tokenHash: token, now: 5000 }),
            undefined,
            "expired",
          );
          // A new password login revokes the earlier token.
          const second = hashToken(newToken());
          await other.issueLoginToken({ userId, tokenHash: second, expiresAt: 9000, now: 2 });
          assert.equal(await store.tokenOwner({ tokenHash: token, now: 3 }), undefined);
          assert.equal((await store.tokenOwner({ tokenHash: second, now: 3 }))?.userId, userId);
          assert.equal(await store.revokeTokens(userId), 1);
          assert.equal(await other.tokenOwner({ tokenHash: second, now: 3 }), undefined, "revoked");
          // A password change keeps only the new token.
          const kept = hashToken(newToken());
          await store.issueLoginToken({ userId, tokenHash: second, expiresAt: 9000, now: 3 });
          await store.changePassword({
            userId,
            passwordHash: "changed",
            tokenHash: kept,
            expiresAt: 9000,
            now: 4,
          });
          assert.equal(await other.tokenOwner({ tokenHash: second, now: 5 }), undefined);
          assert.equal((await other.tokenOwner({ tokenHash: kept, now: 5 }))?.userId, userId);
          assert.equal((await other.accountById(userId))?.passwordHash, "changed");
          // A re-hash does not overwrite a password changed meanwhile.
          await store.issueLoginToken({
            userId,
            tokenHash: hashToken(newToken()),
            expiresAt: 9000,
            now: 6,
            rehash: { from: HASH, to: "stale" },
          });
          assert.equal((await other.accountById(userId))?.passwordHash, "changed");
          // Pruning deletes expired tokens only.
          const short = await store.createAccount({
            username: "tok00002",
            passwordHash: HASH,
            now: 1,
          });
          await store.issueLoginToken({
            userId: short,
            tokenHash: hashToken(newToken()),
            expiresAt: 10,
            now: 1,
          });
          assert.equal(await store.pruneTokens(10), 1);
          // Deleting the account deletes its tokens; a login for it then fails.
          assert.equal(await store.deleteAccount(userId), true);
          assert.equal(await other.tokenOwner({ tokenHash: kept, now: 5 }), undefined);
          await assert.rejects(
            store.issueLoginToken({
              userId,
              tokenHash: hashToken(newToken()),
              expiresAt: 9,
              now: 7,
            }),
            AccountGoneError,
          );
        } finally {
          await store.close();
          await other.close();
        }
      });
    },
  );

  await t.step(
    "instances opening a fresh store at once all start (migrations under a lock)",
    async () => {
      await withStores(target, async (fresh) => {
        const opened = await Promise.allSettled(Array.from({ length: 4 }, () => fresh.open()));
        const stores = opened.flatMap((o) => o.status === "fulfilled" ? [o.value] : []);
        try {
          assert.deepEqual(opened.map((o) => o.status), Array(4).fill("fulfilled"));
          assert.equal(stores.filter((s) => s.created).length, 1, "one of them made the schema");
          await stores[0].createAccount({ username: "race0001", passwordHash: HASH, now: 1 });
          for (const store of stores) assert.equal(await store.countAccounts(), 1);
        } finally {
          for (const store of stores) await store.close();
        }
      });
      // The same with real login processes, as `deno task cluster` or a supervisor starts them.
      await withStores(target, async (fresh) => {
        const { logins, stop } = await gateWithLogins(fresh, 3);
        try {
          const created = logins.filter((l) => l.lines.some((x) => x.includes("database created")));
          assert.equal(created.length, 1, "one login service made the schema");
          for (const login of logins) {
            assert.ok(
              !login.lines.some((x) => /locked|start failed/.test(x)),
              login.lines.join("\n"),
            );
          }
        } finally {
          await stop();
        }
      });
    },
  );

  await t.step(
    "two login services on one gate: register on A, log in on B; 200 racing registrations give one OK",
    async () => {
      await withStores(target, async (fresh) => {
        const { gate, logins, stop } = await gateWithLogins(fresh, 2);
        const clients: GateClient[] = [];
        try {
          for (let i = 0; i < 10; i++) clients.push(await connectClient(gate.wsUrl));
          // The gate sends requests round-robin to the two services: over these rounds both
          // register and both log in, and the logs say which did what.
          const users: { username: string; userId: number }[] = [];
          for (let round = 0; round < 6; round++) {
            // The gate keeps one rotation per command: an extra registration every other round
            // shifts the registrations' rotation against the logins'.
            if (round % 2 === 1) {
              await clients[0].register({ username: uniqueName("sh"), password: TEST_PASSWORD });
            }
            const username = uniqueName("ab");
            const { userId } = await clients[0].register({ username, password: TEST_PASSWORD });
            const login = await clients[1].login({ username, password: TEST_PASSWORD });
            assert.equal(login.userId, userId);
            users.push({ username, userId });
            await clients[1].logout();
          }
          const [a, b] = logins;
          const crossed = users.filter((u) =>
            (registeredBy(a).has(u.username) && loggedInBy(b).has(u.userId)) ||
            (registeredBy(b).has(u.username) && loggedInBy(a).has(u.userId))
          );
          assert.ok(
            crossed.length > 0,
            "an account registered on one service logged in on the other",
          );
          for (const u of users) {
            assert.ok(
              registeredBy(a).has(u.username) !== registeredBy(b).has(u.username),
              "each account was registered once, by one service",
            );
          }

          // 200 registrations of one name (and its case variants) at once, over 10 connections.
          const name = uniqueName("Race").slice(0, 12);
          const variants = [name, name.toLowerCase(), name.toUpperCase()];
          const answers = await Promise.all(
            Array.from(
              { length: 200 },
              (_, i) => register(clients[i % clients.length], variants[i % variants.length]),
            ),
          );
          const ok = answers.filter((x) => x.state === State.OK);
          assert.equal(ok.length, 1, `one OK, got ${ok.length}`);
          const refused = answers.filter((x) => x.state !== State.OK);
          for (const x of refused) {
            assert.equal(x.state, State.FAIL, x.msg);
            assert.match(x.msg, /^Username \w+ is taken$/);
          }
          assert.ok(registeredBy(a).size > 0 && registeredBy(b).size > 0, "both services served");
        } finally {
          for (const client of clients) client.close();
          await stop();
        }
      });
    },
  );

  await t.step("logout on one login service makes the token fail on the other", async () => {
    await withStores(target, async (fresh) => {
      const { gate, stop } = await gateWithLogins(fresh, 2);
      const clients: GateClient[] = [];
      try {
        const owner = await connectClient(gate.wsUrl);
        clients.push(owner);
        const username = uniqueName("lo");
        await owner.register({ username, password: TEST_PASSWORD });
        const { token } = await owner.login({ username, password: TEST_PASSWORD });
        // Before the logout, the token works on both services (4 logins: 2 each, round-robin).
        for (let i = 0; i < 4; i++) {
          const client = await connectClient(gate.wsUrl);
          clients.push(client);
          assert.equal((await client.loginByToken(token)).username, username);
        }
        const last = clients.at(-1)!;
        await last.logout();
        // After it, on both.
        for (let i = 0; i < 4; i++) {
          const client = await connectClient(gate.wsUrl);
          clients.push(client);
          const response = await client.request(LoginCmd.LOGIN_BY_TOKEN, { token });
          assert.equal(response.state, State.FAIL, "the revoked token is refused");
          assert.equal(response.msg, "The token is not valid or has expired");
        }
      } finally {
        for (const client of clients) client.close();
        await stop();
      }
    });
  });
}
