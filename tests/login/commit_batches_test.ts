import assert from "node:assert/strict";
import {
  checkedMaxBatch,
  type CommitReport,
  DEFAULT_MAX_BATCH,
  emptyCommitStats,
  settleCommitted,
} from "../../server/login/commit_batches.ts";

Deno.test("commit batches: a committed batch is reported first, then each write settles with its own outcome", async () => {
  const stats = emptyCommitStats();
  const order: string[] = [];
  const writes = [0, 1, 2].map((i) => {
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    return {
      promise,
      resolve(value: unknown) {
        order.push(`resolve ${i}`);
        resolve(value);
      },
      reject(error: unknown) {
        order.push(`reject ${i}`);
        reject(error);
      },
    };
  });
  const reports: CommitReport[] = [];
  const taken = new Error("Username taken");
  settleCommitted(writes, {
    outcomes: [{ ok: true, value: "a" }, { ok: false, error: taken }, { ok: true, value: 3 }],
    started: performance.now(),
    stats,
    onCommit: (report) => {
      order.push("commit");
      reports.push(report);
    },
  });
  assert.deepEqual(order, ["commit", "resolve 0", "reject 1", "resolve 2"]);
  assert.equal(reports[0].writes, 3);
  assert.ok(reports[0].ms >= 0);
  assert.equal(await writes[0].promise, "a");
  await assert.rejects(writes[1].promise, taken);
  assert.equal(await writes[2].promise, 3);
  assert.deepEqual(
    { commits: stats.commits, writes: stats.writes, failedWrites: stats.failedWrites },
    { commits: 1, writes: 2, failedWrites: 1 },
  );
  assert.equal(stats.largestBatch, 3);
});

Deno.test("commit batches: a listener's fault does not keep the writes from settling", async () => {
  const stats = emptyCommitStats();
  const { promise, resolve, reject } = Promise.withResolvers<unknown>();
  settleCommitted([{ resolve, reject }], {
    outcomes: [{ ok: true, value: 1 }],
    started: performance.now(),
    stats,
    onCommit: () => {
      throw new Error("listener broke");
    },
  });
  assert.equal(await promise, 1);
  assert.equal(stats.writes, 1);
});

Deno.test("commit batches: maxBatch defaults, and a bad one is refused with what was given", () => {
  assert.equal(checkedMaxBatch(undefined), DEFAULT_MAX_BATCH);
  assert.equal(checkedMaxBatch(1), 1);
  assert.throws(() => checkedMaxBatch(0), /maxBatch must be a positive integer, not 0/);
  assert.throws(() => checkedMaxBatch(1.5), RangeError);
});
