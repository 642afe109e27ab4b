import assert from "node:assert/strict";
import { DEFAULT_THROTTLE_POLICY, LoginThrottle } from "../../server/login/login_throttle.ts";

/** A throttle on a fake clock whose sleeps advance the clock and are recorded. */
function fakeThrottle(policy = {}) {
  const clock = { now: 1_000_000 };
  const slept: number[] = [];
  const throttle = new LoginThrottle({
    policy,
    now: () => clock.now,
    sleep: (ms) => {
      slept.push(ms);
      clock.now += ms;
      return Promise.resolve();
    },
  });
  const attempt = (key: string, ok: boolean) =>
    throttle.attempt(key, () => Promise.resolve({ ok, value: ok }));
  return { throttle, clock, slept, attempt };
}

Deno.test("throttle: free failures, then growing waits, then a lock", async () => {
  const { throttle, slept, attempt, clock } = fakeThrottle();
  for (let i = 0; i < 5; i++) {
    const outcome = await attempt("alice01", false);
    assert.deepEqual(outcome, { kind: "done", ok: false, value: false });
  }
  assert.deepEqual(slept, [500, 1000], "3 failures are free, then 0.5 s and 1 s");
  const locked = await attempt("alice01", true);
  assert.equal(locked.kind, "locked");
  assert.equal(locked.kind === "locked" && locked.retryAfterMs, DEFAULT_THROTTLE_POLICY.lockMs);
  assert.equal(throttle.record("alice01")?.failures, 5);
  // Another account is not slowed at all.
  assert.deepEqual(await attempt("bob0001", true), { kind: "done", ok: true, value: true });
  assert.deepEqual(slept, [500, 1000]);
  // After the lock: one more failure locks for twice as long.
  clock.now += DEFAULT_THROTTLE_POLICY.lockMs;
  await attempt("alice01", false);
  const again = await attempt("alice01", true);
  assert.equal(again.kind === "locked" && again.retryAfterMs, 2 * DEFAULT_THROTTLE_POLICY.lockMs);
});

Deno.test("throttle: a success clears the record", async () => {
  const { throttle, slept, attempt } = fakeThrottle();
  for (let i = 0; i < 4; i++) await attempt("carol01", false);
  assert.equal((await attempt("carol01", true)).kind, "done");
  assert.equal(throttle.record("carol01"), undefined);
  slept.length = 0;
  await attempt("carol01", false);
  assert.deepEqual(slept, []);
});

Deno.test("throttle: failures are forgotten after forgetMs", async () => {
  const { throttle, attempt, clock } = fakeThrottle();
  for (let i = 0; i < 3; i++) await attempt("dave001", false);
  clock.now += DEFAULT_THROTTLE_POLICY.forgetMs + 1;
  assert.equal(throttle.record("dave001"), undefined);
  assert.equal(throttle.size, 0);
});

Deno.test("throttle: the lock and the waits have ceilings", () => {
  const { throttle } = fakeThrottle();
  assert.equal(throttle.delayFor(2), 0);
  assert.equal(throttle.delayFor(100), DEFAULT_THROTTLE_POLICY.maxDelayMs);
  assert.equal(throttle.lockFor(4), 0);
  assert.equal(throttle.lockFor(5), DEFAULT_THROTTLE_POLICY.lockMs);
  assert.equal(throttle.lockFor(1000), DEFAULT_THROTTLE_POLICY.maxLockMs);
});

Deno.test("throttle: parallel attempts on one account run one at a time", async () => {
  const throttle = new LoginThrottle({ sleep: () => Promise.resolve() });
  let running = 0;
  let most = 0;
  const run = async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
    return { ok: false, value: undefined };
  };
  const outcomes = await Promise.all(
    Array.from({ length: 8 }, () => throttle.attempt("eve0001", run)),
  );
  assert.equal(most, 1);
  // The 5th failure locked the account: the last three were refused without running.
  assert.deepEqual(outcomes.map((o) => o.kind), [
    "done",
    "done",
    "done",
    "done",
    "done",
    "locked",
    "locked",
    "locked",
  ]);
  // More waiting than maxWaiting are refused as busy; other accounts run meanwhile.
  const slow = new LoginThrottle({ sleep: () => Promise.resolve(), policy: { maxWaiting: 2 } });
  const hold = () =>
    new Promise<{ ok: boolean; value: undefined }>((resolve) =>
      setTimeout(() => resolve({ ok: true, value: undefined }), 20)
    );
  const three = [slow.attempt("k", hold), slow.attempt("k", hold), slow.attempt("k", hold)];
  assert.equal((await slow.attempt("other", hold)).kind, "done");
  assert.deepEqual((await Promise.all(three)).map((o) => o.kind), ["done", "done", "busy"]);
});

Deno.test("throttle: the number of accounts tracked is bounded", async () => {
  const { throttle, attempt } = fakeThrottle({ maxEntries: 3 });
  for (const key of ["a", "b", "c", "d"]) await attempt(key, false);
  assert.equal(throttle.size, 3);
  assert.equal(throttle.record("a"), undefined, "the oldest is forgotten first");
  assert.equal(throttle.record("d")?.failures, 1);
});
