import assert from "node:assert/strict";
import { type AcquireOptions, SeatPool } from "../../server/license/seat_pool.ts";

function login(
  instanceId: string,
  owner: number,
  extra: Partial<AcquireOptions> = {},
): AcquireOptions {
  return { instanceId, host: "host", user: "user", owner, wait: false, now: owner, ...extra };
}

Deno.test("seat pool grants up to its capacity and refuses the next with a reason", () => {
  const pool = new SeatPool({ capacity: 2 });
  assert.equal(pool.acquire(login("a", 1)).kind, "granted");
  assert.equal(pool.acquire(login("b", 2)).kind, "granted");
  const third = pool.acquire(login("c", 3));
  assert.deepEqual(third, { kind: "refused", reason: "All 2 seats are in use" });
  assert.equal(pool.held, 2);
  assert.equal(pool.free, 0);
});

Deno.test("seat pool queues waiting logins first come first served", () => {
  const pool = new SeatPool({ capacity: 1 });
  pool.acquire(login("a", 1));
  const b = pool.acquire(login("b", 2, { wait: true }));
  const c = pool.acquire(login("c", 3, { wait: true }));
  assert.equal(b.kind === "queued" && b.position, 1);
  assert.equal(c.kind === "queued" && c.position, 2);
  // A login that does not wait does not jump the queue.
  assert.equal(pool.acquire(login("d", 4)).kind, "refused");
  const first = pool.release("a");
  assert.deepEqual(first.granted.map((s) => s.instanceId), ["b"]);
  const second = pool.release("b");
  assert.deepEqual(second.granted.map((s) => s.instanceId), ["c"]);
  assert.equal(pool.waiting, 0);
});

Deno.test("seat pool gives an instance its own seat back on a new connection", () => {
  const pool = new SeatPool({ capacity: 2 });
  pool.acquire(login("a", 1));
  const again = pool.acquire(login("a", 7));
  assert.equal(again.kind, "granted");
  assert.equal(again.kind === "granted" && again.reclaimed, true);
  assert.equal(again.kind === "granted" && again.previousOwner, 1);
  assert.equal(pool.held, 1);
  // The old connection's release is a no-op: the seat now belongs to connection 7.
  assert.equal(pool.release("a", { owner: 1 }).seat, undefined);
  assert.equal(pool.held, 1);
  assert.equal(pool.release("a", { owner: 7 }).seat?.instanceId, "a");
});

Deno.test("seat pool refuses an instance id claimed from another host or user", () => {
  const pool = new SeatPool({ capacity: 2 });
  pool.acquire(login("a", 1));
  const other = pool.acquire(login("a", 2, { user: "mallory" }));
  assert.equal(other.kind, "refused");
  assert.match(other.kind === "refused" ? other.reason : "", /another host or user/);
  assert.equal(pool.seat("a")?.owner, 1);
});

Deno.test("seat pool keeps a queued instance's place when it logs in again", () => {
  const pool = new SeatPool({ capacity: 1 });
  pool.acquire(login("a", 1));
  pool.acquire(login("b", 2, { wait: true }));
  pool.acquire(login("c", 3, { wait: true }));
  const again = pool.acquire(login("b", 9, { wait: true }));
  assert.equal(again.kind === "queued" && again.position, 1);
  assert.equal(again.kind === "queued" && again.previousOwner, 2);
  assert.equal(pool.release("a").granted[0].owner, 9);
});

Deno.test("seat pool cancels a queued login and grants in order when capacity grows", () => {
  const pool = new SeatPool({ capacity: 1 });
  pool.acquire(login("a", 1));
  pool.acquire(login("b", 2, { wait: true }));
  pool.acquire(login("c", 3, { wait: true }));
  assert.equal(pool.cancel("b", { owner: 99 }), undefined);
  assert.equal(pool.cancel("b", { owner: 2 })?.instanceId, "b");
  const granted = pool.setCapacity(3);
  assert.deepEqual(granted.map((s) => s.instanceId), ["c"]);
  assert.equal(pool.free, 1);
});

Deno.test("seat pool never takes seats back when capacity shrinks", () => {
  const pool = new SeatPool({ capacity: 3 });
  for (const id of ["a", "b", "c"]) pool.acquire(login(id, id.charCodeAt(0)));
  pool.setCapacity(1);
  assert.equal(pool.held, 3);
  assert.equal(pool.free, 0);
  pool.release("a");
  pool.release("b");
  assert.equal(pool.free, 0);
  pool.release("c");
  assert.equal(pool.free, 1);
});

Deno.test("seat pool bounds its queue", () => {
  const pool = new SeatPool({ capacity: 1, maxQueue: 1 });
  pool.acquire(login("a", 1));
  assert.equal(pool.acquire(login("b", 2, { wait: true })).kind, "queued");
  const full = pool.acquire(login("c", 3, { wait: true }));
  assert.equal(full.kind, "refused");
  assert.match(full.kind === "refused" ? full.reason : "", /1 logins already wait/);
});

Deno.test("seat pool rejects a capacity that is not a whole number", () => {
  assert.throws(() => new SeatPool({ capacity: -1 }), RangeError);
  assert.throws(() => new SeatPool({ capacity: 1.5 }), RangeError);
});
