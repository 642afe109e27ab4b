import assert from "node:assert/strict";
import { DEFAULT_THROTTLE_POLICY as P, LoginThrottle } from "../../server/login/login_throttle.ts";

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
  const attempt = (account: string, source: string, ok: boolean) =>
    throttle.attempt({ account, source }, () => Promise.resolve({ ok, value: ok }));
  return { throttle, clock, slept, attempt };
}

const ATTACKER = "203.0.113.9";
const OWNER = "198.51.100.7";

Deno.test("throttle: one source's failures slow, then lock, the account for that source only", async () => {
  const { throttle, slept, attempt, clock } = fakeThrottle();
  for (let i = 0; i < 5; i++) {
    const outcome = await attempt("alice01", ATTACKER, false);
    assert.deepEqual(outcome, { kind: "done", ok: false, value: false });
  }
  assert.deepEqual(slept, [500, 1000], "3 failures are free, then 0.5 s and 1 s");
  const locked = await attempt("alice01", ATTACKER, true);
  assert.deepEqual(locked, { kind: "locked", scope: "account", retryAfterMs: P.lockMs });
  assert.equal(throttle.record({ account: "alice01", source: ATTACKER })?.failures, 5);
  // The owner, from another address, is neither refused nor slowed.
  assert.deepEqual(await attempt("alice01", OWNER, true), { kind: "done", ok: true, value: true });
  assert.deepEqual(slept, [500, 1000]);
  // Another account from the attacker's address is not locked (the source has 5 of its 30).
  assert.equal((await attempt("bob0001", ATTACKER, true)).kind, "done");
  // After the lock: one more failure locks the pair for twice as long.
  clock.now += P.lockMs;
  await attempt("alice01", ATTACKER, false);
  const again = await attempt("alice01", ATTACKER, true);
  assert.deepEqual(again, { kind: "locked", scope: "account", retryAfterMs: 2 * P.lockMs });
  assert.deepEqual(await attempt("alice01", OWNER, true), { kind: "done", ok: true, value: true });
});

Deno.test("throttle: a source failing on many accounts is slowed, then locked, whatever the names", async () => {
  const { throttle, slept, attempt, clock } = fakeThrottle();
  for (let i = 0; i < P.sourceLockAfter; i++) {
    assert.equal((await attempt(`name${i}`, ATTACKER, false)).kind, "done");
  }
  // Free up to 10 failures, then 0.5 s doubling up to 4 s.
  assert.deepEqual(slept.slice(0, 4), [500, 1000, 2000, 4000]);
  assert.equal(slept.length, P.sourceLockAfter - P.sourceFreeFailures);
  assert.ok(slept.every((ms) => ms <= P.maxDelayMs));
  assert.equal(throttle.sourceRecord(ATTACKER)?.failures, P.sourceLockAfter);
  // Locked: every account from that source, the right password too; other sources are not.
  const refused = await attempt("fresh01", ATTACKER, true);
  assert.deepEqual(refused, { kind: "locked", scope: "source", retryAfterMs: P.lockMs });
  assert.equal((await attempt("name3", OWNER, true)).kind, "done");
  // Each failure after a lock doubles it, up to the ceiling.
  clock.now += P.lockMs;
  await attempt("name99", ATTACKER, false);
  const longer = await attempt("name99", ATTACKER, true);
  assert.deepEqual(longer, { kind: "locked", scope: "source", retryAfterMs: 2 * P.lockMs });
  assert.equal(throttle.sourceLockFor(10_000), P.maxLockMs);
});

Deno.test("throttle: a source's standing: new, trusted after a success, suspect after 3 failures", async () => {
  const { throttle, attempt, clock } = fakeThrottle();
  assert.equal(throttle.standing(OWNER), "new");
  await attempt("frank01", OWNER, false);
  assert.equal(throttle.standing(OWNER), "new", "a typo does not make an address suspect");
  await attempt("frank01", OWNER, true);
  assert.equal(throttle.standing(OWNER), "trusted");
  clock.now += P.forgetMs + 1;
  assert.equal(throttle.standing(OWNER), "new");
  for (let i = 0; i < P.freeFailures - 1; i++) await attempt(`name${i}`, ATTACKER, false);
  assert.equal(throttle.standing(ATTACKER), "new");
  await attempt("name99", ATTACKER, false);
  assert.equal(throttle.standing(ATTACKER), "suspect");
  await attempt("frank01", ATTACKER, true);
  assert.equal(throttle.standing(ATTACKER), "suspect", "a success does not clear failures");
});

Deno.test("throttle: a success clears the pair, not the source", async () => {
  const { throttle, slept, attempt } = fakeThrottle();
  for (let i = 0; i < 4; i++) await attempt("carol01", OWNER, false);
  assert.equal((await attempt("carol01", OWNER, true)).kind, "done");
  assert.equal(throttle.record({ account: "carol01", source: OWNER }), undefined);
  assert.equal(throttle.sourceRecord(OWNER)?.failures, 4);
  slept.length = 0;
  await attempt("carol01", OWNER, false);
  assert.deepEqual(slept, []);
});

Deno.test("throttle: failures are forgotten after forgetMs", async () => {
  const { throttle, attempt, clock } = fakeThrottle();
  for (let i = 0; i < 3; i++) await attempt("dave001", OWNER, false);
  clock.now += P.forgetMs + 1;
  assert.equal(throttle.record({ account: "dave001", source: OWNER }), undefined);
  assert.equal(throttle.sourceRecord(OWNER), undefined);
  assert.deepEqual(throttle.size, { pairs: 0, sources: 0 });
});

Deno.test("throttle: the locks and the waits have ceilings", () => {
  const { throttle } = fakeThrottle();
  assert.equal(throttle.delayFor(2), 0);
  assert.equal(throttle.delayFor(100), P.maxDelayMs);
  assert.equal(throttle.lockFor(4), 0);
  assert.equal(throttle.lockFor(5), P.lockMs);
  assert.equal(throttle.lockFor(1000), P.maxLockMs);
  assert.equal(throttle.sourceDelayFor(9), 0);
  assert.equal(throttle.sourceDelayFor(10), P.baseDelayMs);
  assert.equal(throttle.sourceLockFor(29), 0);
  assert.equal(throttle.sourceLockFor(30), P.lockMs);
});

Deno.test("throttle: parallel attempts on one account from one source run one at a time", async () => {
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
  const key = { account: "eve0001", source: ATTACKER };
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => throttle.attempt(key, run)));
  assert.equal(most, 1);
  // The 5th failure locked the account for this source: the last three did not run.
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
  // More waiting than maxWaiting are refused as busy; other keys run meanwhile.
  const slow = new LoginThrottle({ sleep: () => Promise.resolve(), policy: { maxWaiting: 2 } });
  const hold = () =>
    new Promise<{ ok: boolean; value: undefined }>((resolve) =>
      setTimeout(() => resolve({ ok: true, value: undefined }), 20)
    );
  const k = { account: "k", source: ATTACKER };
  const three = [slow.attempt(k, hold), slow.attempt(k, hold), slow.attempt(k, hold)];
  assert.equal((await slow.attempt({ account: "k", source: OWNER }, hold)).kind, "done");
  assert.deepEqual((await Promise.all(three)).map((o) => o.kind), ["done", "done", "busy"]);
});

Deno.test("throttle: the records kept are bounded", async () => {
  const { throttle, attempt } = fakeThrottle({ maxEntries: 3 });
  for (const [account, source] of [["a", "s1"], ["b", "s2"], ["c", "s3"], ["d", "s4"]]) {
    await attempt(account, source, false);
  }
  assert.deepEqual(throttle.size, { pairs: 3, sources: 3 });
  assert.equal(throttle.record({ account: "a", source: "s1" }), undefined, "the oldest goes");
  assert.equal(throttle.sourceRecord("s1"), undefined);
  assert.equal(throttle.record({ account: "d", source: "s4" })?.failures, 1);
});
