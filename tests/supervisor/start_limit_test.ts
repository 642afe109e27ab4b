import assert from "node:assert/strict";
import {
  DEFAULT_START_LIMIT,
  parseStartLimit,
  StartLimit,
} from "../../server/supervisor/start_limit.ts";

Deno.test("start limit: gives up at the burst within the interval, not before", () => {
  const limit = new StartLimit({ burst: 3, intervalMs: 10_000 });
  assert.equal(limit.record(0), false);
  assert.equal(limit.record(1000), false);
  assert.equal(limit.record(2000), true);
  assert.equal(limit.count, 3);
});

Deno.test("start limit: failures older than the interval no longer count", () => {
  const limit = new StartLimit({ burst: 3, intervalMs: 10_000 });
  assert.equal(limit.record(0), false);
  assert.equal(limit.record(5000), false);
  assert.equal(limit.record(10_000), false, "the first fell out of the window");
  assert.equal(limit.count, 2);
  assert.equal(limit.record(14_000), true);
});

Deno.test("start limit: an interval of 0 never gives up; a burst of 1 gives up at once", () => {
  const never = new StartLimit({ burst: 1, intervalMs: 0 });
  for (let i = 0; i < 100; i++) assert.equal(never.record(i), false);
  assert.equal(new StartLimit({ burst: 1, intervalMs: 1000 }).record(0), true);
});

Deno.test("start limit: bad settings are refused with what was received", () => {
  assert.throws(() => new StartLimit({ burst: 0, intervalMs: 1 }), /'burst'.*received 0/);
  assert.throws(() => new StartLimit({ burst: 1, intervalMs: -1 }), /'intervalMs'.*received -1/);
});

Deno.test("start limit: the flags, their defaults and their errors", () => {
  assert.deepEqual(parseStartLimit({}), DEFAULT_START_LIMIT);
  assert.deepEqual(parseStartLimit({ burst: "2", intervalS: "30" }), {
    burst: 2,
    intervalMs: 30_000,
  });
  assert.deepEqual(parseStartLimit({ intervalS: "0" }), { burst: 5, intervalMs: 0 });
  for (const burst of ["0", "-1", "x", "1.5", ""]) {
    assert.throws(() => parseStartLimit({ burst }), /Flag --start-limit-burst must be/);
  }
  for (const intervalS of ["-1", "x", "2.5", ""]) {
    assert.throws(() => parseStartLimit({ intervalS }), /Flag --start-limit-interval-s must be/);
  }
});
