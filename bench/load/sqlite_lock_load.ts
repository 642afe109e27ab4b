/**
 * Two login instances' writers on one login.sqlite, without the rest of the service: run it twice
 * at once on one file (pinned to a core each) and once alone, and compare. Each run opens a
 * SqliteAccountStore, keeps 50 writers in a closed loop (a 3 ms timer stands for the hash, then
 * `createAccount`), and prints one JSON line: writes/s, commits and their mean and longest time,
 * the event loop's longest stall and total stalls over 10 ms (a 1 ms interval's lateness), and
 * the writer's waits for the other process's lock (`lockBusy`, `lockWaitMs`; bench/FINDINGS.md,
 * Finding 17).
 *
 * Usage: `deno run -A bench/load/sqlite_lock_load.ts PATH TAG SECONDS`, e.g.
 * `taskset -c 0 deno run -A bench/load/sqlite_lock_load.ts /tmp/l.sqlite a 3 &
 *  taskset -c 1 deno run -A bench/load/sqlite_lock_load.ts /tmp/l.sqlite b 3`
 *
 * @module
 */

import { SqliteAccountStore } from "../../server/login/sqlite_account_store.ts";

const [path, tag = "run", secondsText = "3"] = Deno.args;
if (!path) throw new TypeError("Usage: sqlite_lock_load.ts PATH [TAG] [SECONDS]");
const seconds = Number(secondsText);
let commitMs = 0;
let commits = 0;
let longestCommit = 0;
const store = await SqliteAccountStore.open({
  path,
  onCommit: (commit) => {
    commits++;
    commitMs += commit.ms;
    longestCommit = Math.max(longestCommit, commit.ms);
  },
});
let last = performance.now();
let longestStall = 0;
let stalls = 0;
const tick = setInterval(() => {
  const now = performance.now();
  const late = now - last - 1;
  longestStall = Math.max(longestStall, late);
  if (late > 10) stalls += late;
  last = now;
}, 1);
const end = performance.now() + seconds * 1000;
let serial = 0;
let done = 0;
async function writer(): Promise<void> {
  while (performance.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 3));
    const username = `${tag}u${serial++}`.slice(0, 16);
    await store.createAccount({ username, passwordHash: "x".repeat(100), now: Date.now() });
    done++;
  }
}
await Promise.all(Array.from({ length: 50 }, writer));
clearInterval(tick);
const stats = store.writerStats;
console.log(JSON.stringify({
  tag,
  writesPerSecond: Math.round(done / seconds),
  commits,
  meanCommitMs: Math.round((commitMs / commits) * 100) / 100,
  longestCommitMs: Math.round(longestCommit * 10) / 10,
  longestStallMs: Math.round(longestStall * 10) / 10,
  stallsOver10MsMs: Math.round(stalls),
  lockBusy: stats.lockBusy,
  lockWaitMs: Math.round(stats.lockWaitMs),
}));
await store.close();
