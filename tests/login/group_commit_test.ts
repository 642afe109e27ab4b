import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { WriterClosedError } from "../../server/login/commit_batches.ts";
import { GroupCommit } from "../../server/login/group_commit.ts";

async function openDb(): Promise<{ db: DatabaseSync; path: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_gc_" });
  const path = `${dir}/t.sqlite`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)");
  return { db, path, dir };
}

Deno.test("group commit: writes queued together share one transaction", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const ids = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) => writer.write(() => Number(insert.run(`v${i}`).lastInsertRowid)),
      ),
    );
    assert.equal(new Set(ids).size, 200);
    const stats = writer.stats;
    assert.equal(stats.commits, 1);
    assert.equal(stats.writes, 200);
    assert.equal(stats.largestBatch, 200);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: a write resolves only once another connection can read it", async () => {
  const { db, path, dir } = await openDb();
  const reader = new DatabaseSync(path, { readOnly: true });
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const count = reader.prepare("SELECT count(*) AS n FROM t");
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        writer.write(() => insert.run(`r${i}`)).then(() => {
          seen.push((count.get() as { n: number }).n);
        })),
    );
    assert.ok(seen.every((n) => n === 20), `every write was visible when it resolved: ${seen}`);
    await writer.close();
  } finally {
    reader.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: a failing write fails alone and the others commit", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const results = await Promise.allSettled([
      writer.write(() => insert.run("a")),
      writer.write(() => {
        insert.run("b"); // rolled back with its savepoint
        insert.run("a"); // UNIQUE violation
      }),
      writer.write(() => {
        throw new Error("not a database error");
      }),
      writer.write(() => insert.run("c")),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE/);
    const rows = db.prepare("SELECT v FROM t ORDER BY v").all().map((r) => r.v);
    assert.deepEqual(rows, ["a", "c"]);
    assert.equal(writer.stats.commits, 1);
    assert.equal(writer.stats.failedWrites, 2);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: a write must be synchronous", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    await assert.rejects(
      writer.write(() => Promise.resolve(insert.run("x"))),
      /must be synchronous/,
    );
    assert.equal(db.prepare("SELECT count(*) AS n FROM t").get()!.n, 0, "rolled back");
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: writes made while a batch settles go to the next transaction", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const second: Promise<unknown>[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        writer.write(() => insert.run(`first${i}`)).then(() => {
          second.push(writer.write(() => insert.run(`second${i}`)));
        })),
    );
    await Promise.all(second);
    assert.equal(writer.stats.commits, 2);
    assert.equal(writer.stats.largestBatch, 10);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: maxBatch splits a long queue", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db, maxBatch: 7 });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => writer.write(() => insert.run(`m${i}`))),
    );
    assert.equal(writer.stats.commits, 3);
    assert.equal(writer.stats.largestBatch, 7);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: a batch cap of 1 commits each write alone", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db, maxBatch: 1 });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const ids = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => writer.write(() => Number(insert.run(`one${i}`).lastInsertRowid)),
      ),
    );
    assert.equal(new Set(ids).size, 10);
    const stats = writer.stats;
    assert.equal(stats.commits, 10);
    assert.equal(stats.writes, 10);
    assert.equal(stats.largestBatch, 1);
    // A write that fails is still alone: the others commit, each in its own transaction.
    const results = await Promise.allSettled([
      writer.write(() => insert.run("dup")),
      writer.write(() => insert.run("dup")),
      writer.write(() => insert.run("other")),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.equal(writer.stats.commits, 13);
    assert.equal(writer.stats.failedWrites, 1);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: the batch cap must be a positive integer", () => {
  const db = new DatabaseSync(":memory:");
  try {
    for (const maxBatch of [0, -1, 1.5, NaN]) {
      assert.throws(() => new GroupCommit({ db, maxBatch }), RangeError, String(maxBatch));
    }
  } finally {
    db.close();
  }
});

Deno.test("group commit: a failed COMMIT rejects every write of the batch", async () => {
  const { db, dir } = await openDb();
  try {
    db.exec(
      "CREATE TABLE parent (id INTEGER PRIMARY KEY); " +
        "CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
    );
    db.exec("PRAGMA foreign_keys = ON");
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const orphan = db.prepare("INSERT INTO child (p) VALUES (?)");
    const results = await Promise.allSettled([
      writer.write(() => insert.run("kept?")),
      // A deferred foreign key fails only at COMMIT: the whole batch is refused.
      writer.write(() => orphan.run(42)),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal(db.prepare("SELECT count(*) AS n FROM t").get()!.n, 0);
    assert.equal(db.isTransaction, false);
    assert.equal(writer.stats.failedCommits, 1);
    // The writer goes on after a failed batch.
    await writer.write(() => insert.run("after"));
    assert.equal(db.prepare("SELECT count(*) AS n FROM t").get()!.n, 1);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: close commits what is queued and refuses more", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const pending = Array.from({ length: 5 }, (_, i) => writer.write(() => insert.run(`c${i}`)));
    await writer.close();
    await Promise.all(pending);
    assert.equal(db.prepare("SELECT count(*) AS n FROM t").get()!.n, 5);
    await assert.rejects(writer.write(() => insert.run("late")), WriterClosedError);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: a one-statement write fails alone without a savepoint", async () => {
  const { db, path, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const one = { oneStatement: true };
    const results = await Promise.allSettled([
      writer.write(() => insert.run("a"), one),
      writer.write(() => insert.run("b"), one),
      writer.write(() => insert.run("a"), one), // UNIQUE violation, undone by SQLite alone
      writer.write(() => insert.run("c"), one),
      writer.write(() => {
        insert.run("d"); // several statements: this one is rolled back with the savepoint
        insert.run("b");
      }),
      writer.write(() => insert.run("e"), one),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    assert.match(String((results[2] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.equal(writer.stats.commits, 1);
    assert.equal(writer.stats.writes, 4);
    assert.equal(writer.stats.failedWrites, 2);
    // What another connection sees is what committed.
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = reader.prepare("SELECT v FROM t ORDER BY v").all().map((r) => r.v);
      assert.deepEqual(rows, ["a", "b", "c", "e"]);
    } finally {
      reader.close();
    }
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: a one-statement write that returns a promise fails its batch", async () => {
  const { db, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const one = { oneStatement: true };
    const results = await Promise.allSettled([
      writer.write(() => insert.run("a"), one),
      writer.write(() => Promise.resolve(insert.run("x")), one),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /must be synchronous/);
    assert.equal(db.prepare("SELECT count(*) AS n FROM t").get()!.n, 0, "nothing committed");
    assert.equal(writer.stats.failedCommits, 1);
    await writer.close();
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit: bulk writes share one statement; when it fails whole, each runs alone", async () => {
  const { db, path, dir } = await openDb();
  try {
    const writer = new GroupCommit({ db });
    const statements = new Map<number, ReturnType<DatabaseSync["prepare"]>>();
    let runs = 0;
    // A plain multi-row INSERT: a NULL (NOT NULL) fails the whole statement.
    const kind = {
      run(items: (string | null)[]) {
        runs++;
        let insert = statements.get(items.length);
        if (!insert) {
          insert = db.prepare(
            `INSERT INTO t (v) VALUES ${items.map(() => "(?)").join(", ")} RETURNING id`,
          );
          statements.set(items.length, insert);
        }
        const rows = insert.all(...items) as { id: number }[];
        return rows.map((row) => ({ ok: true as const, value: row.id }));
      },
    };
    const good = await Promise.all(["a", "b", "c"].map((v) => writer.writeBulk(kind, v)));
    assert.equal(new Set(good).size, 3);
    assert.equal(runs, 1, "one statement for the batch");
    runs = 0;
    const results = await Promise.allSettled(
      ["d", null, "e"].map((v) => writer.writeBulk(kind, v)),
    );
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /NOT NULL/);
    assert.equal(runs, 4, "the whole, then each alone");
    const stats = writer.stats;
    assert.equal(stats.commits, 2);
    assert.equal(stats.failedWrites, 1);
    await writer.close();
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = reader.prepare("SELECT v FROM t ORDER BY v").all().map((r) => r.v);
      assert.deepEqual(rows, ["a", "b", "c", "d", "e"]);
    } finally {
      reader.close();
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
