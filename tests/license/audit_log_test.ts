import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AuditLog, type AuditRecord } from "../../server/license/audit_log.ts";

function row(
  event: AuditRecord["event"],
  instanceId: string,
  reason: string,
): AuditRecord {
  return {
    event,
    instanceId,
    host: "lab",
    user: "ada",
    remote: "127.0.0.1:1",
    reason,
    seatsLeft: 0,
  };
}

async function withFile(fn: (path: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_audit_" });
  try {
    await fn(`${dir}/license.sqlite`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("audit log: the seats held at the last stop are the granted and the shut-down ones, oldest first", async () => {
  await withFile((path) => {
    const audit = new AuditLog(path);
    audit.record(row("grant", "a", "login"));
    audit.record(row("grant", "b", "login"));
    audit.record(row("grant", "c", "login"));
    audit.record(row("queue", "d", "position 1"));
    audit.record(row("refuse", "e", "No seat is free"));
    audit.commit();
    audit.record(row("release", "b", "logout"));
    audit.record(row("grant", "d", "queue"));
    audit.record(row("release", "a", "shutdown"));
    audit.commit();
    audit.close();

    const reopened = new AuditLog(path);
    // c and d still held (killed server), a given back at shutdown (kept), b logged out.
    assert.deepEqual(reopened.heldAtLastStop().map((claim) => claim.instanceId), ["c", "d", "a"]);
    assert.deepEqual(reopened.recent(100).map((entry) => `${entry.event} ${entry.instanceId}`), [
      "grant a",
      "grant b",
      "grant c",
      "queue d",
      "refuse e",
      "release b",
      "grant d",
      "release a",
    ]);
    // A seat granted again after a restart and then released is no longer held.
    reopened.record(row("grant", "a", "reconnect"));
    reopened.record(row("release", "a", "logout"));
    reopened.record(row("release", "c", "not reclaimed after restart"));
    reopened.commit();
    assert.deepEqual(reopened.heldAtLastStop().map((claim) => claim.instanceId), ["d"]);
    reopened.close();
  });
});

Deno.test("audit log: a file written before license_seats keeps its held seats and loses the old index", async () => {
  await withFile((path) => {
    // The schema and rows of a server from before the seats table (user_version 0).
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TABLE license_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('grant', 'release', 'queue', 'refuse')),
        instance_id TEXT NOT NULL, host TEXT NOT NULL, user TEXT NOT NULL, remote TEXT NOT NULL,
        reason TEXT NOT NULL, seats_left INTEGER NOT NULL);
      CREATE INDEX license_audit_instance ON license_audit (instance_id, id);
    `);
    const insert = old.prepare(
      `INSERT INTO license_audit (at, event, instance_id, host, user, remote, reason, seats_left)
       VALUES ('2026-11-01T00:00:00.000Z', ?, ?, 'lab', 'ada', '', ?, 0)`,
    );
    insert.run("grant", "old-1", "login");
    insert.run("grant", "old-2", "login");
    insert.run("grant", "old-3", "login");
    insert.run("release", "old-2", "logout");
    insert.run("release", "old-3", "shutdown");
    old.close();

    const audit = new AuditLog(path);
    assert.deepEqual(audit.heldAtLastStop().map((claim) => claim.instanceId), ["old-1", "old-3"]);
    audit.close();
    const check = new DatabaseSync(path);
    const indexes = check.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'license_audit'",
    ).all();
    assert.deepEqual(indexes, []);
    assert.equal(
      (check.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      1,
    );
    check.close();
  });
});
