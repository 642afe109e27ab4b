import assert from "node:assert/strict";
import { DEFAULT_THROTTLE_POLICY as P, LoginThrottle } from "../../server/login/login_throttle.ts";
import { SqliteThrottleStore } from "../../server/login/throttle_sqlite.ts";
import { TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { startLogin } from "../helpers/login.ts";
import { connectClient, INTEGRATION, startGate } from "../helpers/suite.ts";
import { LoginCmd, State } from "../../shared/mod.ts";

const ATTACKER = "203.0.113.9";
const OWNER = "198.51.100.7";

/** Two throttles (two login instances) on one fake clock, sharing one store file. */
async function sharedPair() {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_throttle_" });
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const sleep = (ms: number) => {
    clock.now += ms;
    return Promise.resolve();
  };
  const stores = await Promise.all(
    [0, 1].map(() => SqliteThrottleStore.open({ path: `${dir}/t.sqlite`, now })),
  );
  const throttles = stores.map((store) => new LoginThrottle({ store, now, sleep }));
  const attempt = (i: number, account: string, source: string, ok: boolean) =>
    throttles[i].attempt({ account, source }, () => Promise.resolve({ ok, value: ok }));
  return { dir, clock, stores, throttles, attempt };
}

Deno.test("throttle store: failures counted by one instance lock the pair on the other", async () => {
  const { dir, stores, throttles, attempt } = await sharedPair();
  try {
    // Failures alternate between the instances: the count is the sum.
    for (let i = 0; i < P.lockAfter; i++) {
      assert.equal((await attempt(i % 2, "alice01", ATTACKER, false)).kind, "done");
    }
    for (const i of [0, 1]) {
      const locked = await attempt(i, "alice01", ATTACKER, true);
      assert.equal(locked.kind, "locked", `instance ${i}`);
      assert.equal(locked.kind === "locked" && locked.scope, "account");
    }
    assert.equal(throttles[1].record({ account: "alice01", source: ATTACKER })?.failures, 5);
    // Never per account alone: the owner from another address logs in on either.
    assert.equal((await attempt(1, "alice01", OWNER, true)).kind, "done");
    assert.equal(throttles[0].sourceRecord(ATTACKER)?.failures, 5);
  } finally {
    for (const store of stores) store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("throttle store: a lock survives a restart (a new throttle on the same file)", async () => {
  const { dir, clock, stores, attempt } = await sharedPair();
  try {
    for (let i = 0; i < P.lockAfter; i++) await attempt(0, "alice01", ATTACKER, false);
    stores[0].close();
    const reopened = await SqliteThrottleStore.open({
      path: `${dir}/t.sqlite`,
      now: () => clock.now,
    });
    stores[0] = reopened;
    const fresh = new LoginThrottle({ store: reopened, now: () => clock.now });
    const outcome = await fresh.attempt(
      { account: "alice01", source: ATTACKER },
      () => Promise.resolve({ ok: true, value: true }),
    );
    assert.deepEqual(outcome, { kind: "locked", scope: "account", retryAfterMs: P.lockMs });
    // After the lock and the forget time, the record goes from the file too.
    clock.now += P.lockMs + P.forgetMs + 1;
    await fresh.attempt(
      { account: "other01", source: OWNER },
      () => Promise.resolve({ ok: false, value: false }),
    );
    clock.now += 61_000;
    await fresh.attempt(
      { account: "other02", source: OWNER },
      () => Promise.resolve({ ok: false, value: false }),
    );
    // The attacker's pair and source were deleted; the owner's two pairs and source are kept.
    assert.equal(reopened.size, 3);
  } finally {
    for (const store of stores) store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "login: a lock on an account for an address survives a restart of the login service",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    let login = await startLogin(gate);
    const client = await connectClient(gate.wsUrl);
    try {
      const username = uniqueName("lock");
      await client.register({ username, password: TEST_PASSWORD });
      for (let i = 0; i < P.lockAfter; i++) {
        const answer = await client.request(LoginCmd.LOGIN, { username, password: "wrong1234" });
        assert.equal(answer.state, State.FAIL);
        assert.match(answer.msg ?? "", /username or password is wrong/);
      }
      await login.stop();
      login = await startLogin(gate);
      const answer = await client.request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
      assert.equal(answer.state, State.FAIL);
      assert.match(
        answer.msg ?? "",
        /Too many failed logins for this account from your address: try again in \d+ s/,
      );
    } finally {
      client.close();
      await login.stop();
      await gate.stop();
    }
  },
});
