/**
 * The license server's turn (license_turn.ts), its read-lateness window (read_lateness.ts) and
 * the audit log's group commit (audit_log.ts).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AuditLog, type AuditRecord } from "../../server/license/audit_log.ts";
import { LicenseTurn } from "../../server/license/license_turn.ts";
import { ReadLateness } from "../../server/license/read_lateness.ts";
import { ReadProbe } from "../../server/license/read_probe.ts";
import { SilenceClock } from "../../server/license/silence_clock.ts";

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

Deno.test("a turn answers heartbeats first, then other work, then commits, then writes", async () => {
  const order: string[] = [];
  const errors: unknown[] = [];
  const turn = new LicenseTurn({
    commit: () => order.push("commit"),
    onError: (error) => errors.push(error),
  });
  turn.work(() => order.push("login 1"));
  turn.flush(() => order.push("write a"));
  turn.beat(() => order.push("beat 1"));
  turn.work(() => {
    order.push("login 2");
    // Work queued by work (a grant from the queue) joins the same turn, before the commit.
    turn.work(() => order.push("grant from queue"));
    turn.beat(() => order.push("beat 2"));
  });
  turn.work(() => {
    throw new Error("handler failed");
  });
  turn.beat(() => order.push("beat 3"));
  await nextTurn();
  assert.deepEqual(order, [
    "beat 1",
    "beat 3",
    "login 1",
    "login 2",
    "beat 2",
    "grant from queue",
    "commit",
    "write a",
  ]);
  assert.equal(errors.length, 1, "a failing handler is reported and the turn goes on");
  assert.equal(turn.stats.turns, 1);
});

Deno.test("ReadLateness keeps the slowest round trip of the last 3 to 6 intervals", () => {
  const lateness = new ReadLateness(1000);
  const t0 = Date.now();
  assert.deepEqual(lateness.tick(t0), { ms: 0, crossed: false });
  lateness.note(400);
  lateness.note(1500);
  lateness.note(700);
  assert.deepEqual(lateness.tick(t0 + 100), { ms: 1500, crossed: true });
  assert.deepEqual(lateness.tick(t0 + 200), { ms: 1500, crossed: false }, "logged once");
  // A new window starts; the previous one still counts.
  assert.equal(lateness.tick(t0 + 3100).ms, 1500);
  lateness.note(200);
  // And the next one drops it.
  assert.equal(lateness.tick(t0 + 6200).ms, 200);
  // A round trip counts for at most 3 intervals.
  lateness.note(3_600_000);
  assert.equal(lateness.tick(t0 + 6300).ms, 3000);
});

Deno.test("the audit log commits a turn's rows together, and recent() sees queued rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_audit_" });
  const path = `${dir}/license.sqlite`;
  const audit = new AuditLog(path);
  const reader = new DatabaseSync(path, { readOnly: true });
  const count = () =>
    Number((reader.prepare("SELECT count(*) AS n FROM license_audit").get() as { n: number }).n);
  try {
    const row = (i: number): AuditRecord => ({
      event: i % 2 ? "release" : "grant",
      instanceId: `i${i}`,
      host: "h",
      user: "u",
      remote: "127.0.0.1:1",
      reason: i % 2 ? "logout" : "login",
      seatsLeft: 5,
    });
    for (let i = 0; i < 10; i++) audit.record(row(i));
    assert.equal(audit.queued, 10);
    assert.equal(count(), 0, "queued rows are not in the table before the commit");
    assert.deepEqual(audit.commit(), { rows: 10 });
    assert.equal(count(), 10, "another connection sees every row after the commit");
    audit.record(row(10));
    const recent = audit.recent(2);
    assert.deepEqual(recent.map((e) => e.instanceId), ["i9", "i10"]);
    assert.equal(audit.queued, 0);
    audit.record(row(11));
  } finally {
    audit.close();
    assert.equal(count(), 12, "close commits what is queued");
    reader.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ReadProbe times how late the server reads its own loopback byte", async () => {
  const probe = await ReadProbe.open();
  try {
    assert.equal(probe.lateMs(), 0);
    probe.ping();
    // Taken after the ping, so that the ping's own clock reading is not later than this one.
    const sent = Date.now();
    // Until the byte is read, the wait so far counts.
    assert.ok(probe.lateMs(sent + 500) >= 500);
    // Once the byte is read, the probe stops counting: wait for that (a loaded machine may take
    // a while to run the read), then a time far ahead adds nothing.
    let idle = probe.lateMs(Date.now() + 10_000);
    for (const start = Date.now(); idle >= 1000 && Date.now() - start < 5000;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      idle = probe.lateMs(Date.now() + 10_000);
    }
    assert.ok(idle < 1000, `the server read its probe byte (${idle} ms)`);
  } finally {
    probe.close();
  }
});

Deno.test("SilenceClock stops while a sweep runs late, and that sweep drops nobody", async () => {
  const lines: string[] = [];
  const log = {
    debug() {},
    info() {},
    warn: (event: string) => lines.push(event),
    error() {},
  };
  const silence = new SilenceClock({ heartbeatMs: 100, log });
  await silence.open();
  try {
    assert.equal(silence.sweepMs, 25);
    const first = silence.sweep();
    assert.equal(first.busy, false);
    assert.equal(first.silenceMs, 300, "an idle server: 3 intervals");
    // The next sweep comes 200 ms late: the clock does not count those 200 ms.
    const before = silence.now();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const late = silence.sweep();
    assert.equal(late.busy, true);
    assert.ok(late.clock - before < 150, `the clock stopped (${late.clock - before} ms)`);
    assert.deepEqual(lines, ["server late"]);
  } finally {
    silence.close();
  }
});
