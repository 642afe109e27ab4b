import assert from "node:assert/strict";
import { HasherBusyError, HashScheduler } from "../../server/login/hash_scheduler.ts";

/** Work that finishes when told, after advancing the fake clock by its duration. */
function manual(clock: { now: number }) {
  const pending: Array<{ label: string; finish(ms: number): void }> = [];
  const started: string[] = [];
  const work = (label: string) => () =>
    new Promise<string>((resolve) => {
      started.push(label);
      pending.push({
        label,
        finish: (ms) => {
          clock.now += ms;
          resolve(label);
        },
      });
    });
  /** Finishes the oldest running work, then lets the scheduler start the next. */
  const finishOne = async (ms = 400) => {
    pending.shift()!.finish(ms);
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { work, started, finishOne, pending };
}

Deno.test("hash scheduler: one source holds at most half the slots; another starts at once", async () => {
  const clock = { now: 0 };
  const scheduler = new HashScheduler({ concurrency: 2, now: () => clock.now });
  const { work, started, finishOne } = manual(clock);
  const flood = Array.from({ length: 6 }, (_, i) => scheduler.run("flood", work(`f${i}`)));
  assert.deepEqual(started, ["f0"]);
  assert.equal(scheduler.waiting, 5);
  const legit = scheduler.run("legit", work("l0"));
  assert.deepEqual(started, ["f0", "l0"], "the free slot goes to the other source at once");
  await finishOne();
  await finishOne();
  assert.equal(await legit, "l0");
  while (scheduler.running > 0) await finishOne();
  assert.deepEqual(await Promise.all(flood), ["f0", "f1", "f2", "f3", "f4", "f5"]);
});

Deno.test("hash scheduler: the source that hashed least lately goes next", async () => {
  const clock = { now: 0 };
  const scheduler = new HashScheduler({
    concurrency: 1,
    perSourceRunning: 1,
    now: () => clock.now,
  });
  const { work, started, finishOne } = manual(clock);
  const all = [
    scheduler.run("a", work("a0")),
    scheduler.run("a", work("a1")),
    scheduler.run("a", work("a2")),
    scheduler.run("b", work("b0")),
    scheduler.run("b", work("b1")),
  ];
  await finishOne(1000); // a spent 1 s
  assert.equal(started.at(-1), "b0", "b has more budget left than a");
  await finishOne(100);
  assert.equal(started.at(-1), "b1", "b spent 0.1 s, a 1 s: still b");
  await finishOne(1500);
  assert.equal(started.at(-1), "a1");
  while (scheduler.running > 0) await finishOne(10);
  assert.equal((await Promise.all(all)).length, 5);
});

Deno.test("hash scheduler: a full per-source queue and a spent budget are refused", async () => {
  const clock = { now: 0 };
  const scheduler = new HashScheduler({
    concurrency: 1,
    perSourceQueue: 2,
    budgetPerSecond: 1,
    budgetBurst: 4,
    now: () => clock.now,
  });
  const { work, finishOne } = manual(clock);
  const runs = [scheduler.run("x", work("x0")), scheduler.run("x", work("x1"))];
  runs.push(scheduler.run("x", work("x2")));
  await assert.rejects(
    scheduler.run("x", work("x3")),
    (error) =>
      error instanceof HasherBusyError &&
      error.message === "2 password checks from your address are already waiting",
  );
  // Another source still gets in line.
  runs.push(scheduler.run("y", work("y0")));
  while (scheduler.running > 0) await finishOne(1);
  await Promise.all(runs);
  // x was charged 4 (the refused one too): its budget is spent until it refills.
  await assert.rejects(
    scheduler.run("x", work("x4")),
    (error) =>
      error instanceof HasherBusyError &&
      error.message === "Too many password checks from your address" &&
      error.retryAfterMs > 0 && error.retryAfterMs <= 1000,
  );
  // A cheap hash (a weaker stored one) costs less.
  clock.now += 500;
  const cheap = scheduler.run("x", work("x5"), { cost: 0.25 });
  await finishOne(1);
  assert.equal(await cheap, "x5");
  clock.now += 10_000;
  assert.equal(scheduler.budgetOf("x"), 4, "the budget refills up to its burst");
});

Deno.test("hash scheduler: the last slot is never a suspect's; trusted, then new go first", async () => {
  const clock = { now: 0 };
  const scheduler = new HashScheduler({ concurrency: 2, suspectBurst: 10, now: () => clock.now });
  const { work, started, finishOne } = manual(clock);
  const suspects = ["s1", "s2", "s3", "s4"].map((source) =>
    scheduler.run(source, work(source), { standing: "suspect" })
  );
  assert.deepEqual(started, ["s1"], "suspect sources share one slot");
  const fresh = scheduler.run("new1", work("new1"), { standing: "new" });
  assert.deepEqual(started, ["s1", "new1"], "another source starts at once");
  const fresh2 = scheduler.run("new2", work("new2"));
  let standing: "trusted" | "new" | "suspect" = "new";
  const known = scheduler.run("known", work("known"), { standing: () => standing });
  standing = "trusted"; // asked again when a slot frees
  await finishOne();
  assert.equal(started.at(-1), "known", "a trusted source goes first");
  await finishOne();
  assert.equal(started.at(-1), "new2", "then a new one");
  while (scheduler.running > 0) await finishOne();
  await Promise.all([...suspects, fresh, fresh2, known]);
});

Deno.test("hash scheduler: all suspect sources share one small budget", async () => {
  const clock = { now: 0 };
  const scheduler = new HashScheduler({
    concurrency: 2,
    suspectPerSecond: 0.5,
    suspectBurst: 2,
    now: () => clock.now,
  });
  const { work, finishOne } = manual(clock);
  const runs = ["s1", "s2"].map((s) => scheduler.run(s, work(s), { standing: "suspect" }));
  await assert.rejects(
    scheduler.run("s3", work("s3"), { standing: "suspect" }),
    (error) =>
      error instanceof HasherBusyError &&
      error.message === "Too many password checks from addresses with failed logins" &&
      error.retryAfterMs === 2000,
  );
  // Others are not touched by it.
  runs.push(scheduler.run("n1", work("n1"), { standing: "new" }));
  while (scheduler.running > 0) await finishOne(1);
  await Promise.all(runs);
  clock.now += 2000;
  runs.push(scheduler.run("s3", work("s3"), { standing: "suspect" }));
  await finishOne(1);
  await Promise.all(runs);
});

Deno.test("hash scheduler: the budgets kept are bounded", async () => {
  const scheduler = new HashScheduler({ concurrency: 1, maxSources: 3 });
  for (const source of ["a", "b", "c", "d", "e"]) {
    await scheduler.run(source, () => Promise.resolve());
  }
  assert.equal(scheduler.sources, 3);
});
