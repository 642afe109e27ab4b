import assert from "node:assert/strict";
import { type Caller, type Departure, GroupRegistry } from "../../server/group/group_registry.ts";
import { ReconnectGrace, type ReconnectGraceOptions } from "../../server/group/reconnect_grace.ts";

const alice: Caller = { clientId: 1, userId: 10, name: "alice1" };
const bob: Caller = { clientId: 2, userId: 20 };
const carol: Caller = { clientId: 3, userId: 30 };

/** Timers run by hand: `fire()` runs every one still set. */
function manualTimers() {
  const set = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  return {
    timers: {
      set(fn: () => void, ms: number): unknown {
        set.set(next, { fn, ms });
        return next++;
      },
      clear(id: unknown) {
        set.delete(id as number);
      },
    },
    pending: () => [...set.values()].map((t) => t.ms),
    fire() {
      const all = [...set.values()];
      set.clear();
      for (const { fn } of all) fn();
    },
  };
}

function setup(options: Partial<ReconnectGraceOptions> = {}) {
  let t = 1000;
  const registry = new GroupRegistry({
    limits: { maxMembers: 100, maxGroupsPerUser: 10 },
    now: () => t++,
  });
  const clock = manualTimers();
  const expired: Array<{ clientId: number; departures: Departure[] }> = [];
  const grace = new ReconnectGrace({
    registry,
    graceMs: 30_000,
    onExpired: (e) => expired.push(e),
    timers: clock.timers,
    ...options,
  });
  // Alice owns "room"; bob and carol joined after her.
  const { key } = registry.create({ caller: alice, groupId: "room" });
  registry.join({ caller: bob, groupId: "room", key });
  registry.join({ caller: carol, groupId: "room", key });
  return { registry, grace, clock, expired, key };
}

Deno.test("reconnect grace: a dropped owner is away, then back on its new connection in its place", () => {
  const { registry, grace, clock } = setup();
  const left = grace.left({ clientId: 1, userId: 10 });
  assert.deepEqual(left.departures, []);
  assert.deepEqual(left.back, []);
  assert.deepEqual(left.away.map((a) => [a.groupId, a.member.clientId, a.others, a.members]), [
    ["room", 1, [2, 3], 3],
  ]);
  assert.equal(left.away[0].member.away, true);
  assert.deepEqual(clock.pending(), [30_000]);
  assert.equal(grace.isAway(1), true);
  // Away: still a member and the owner, but no message goes to it.
  const info = registry.peek("room")!;
  assert.deepEqual(info.members.map((m) => [m.clientId, m.away ?? false]), [
    [1, true],
    [2, false],
    [3, false],
  ]);
  assert.equal(info.owner.clientId, 1);
  assert.deepEqual(registry.recipients({ caller: bob, groupId: "room" }), [3]);

  const back = grace.bound({ clientId: 7, userId: 10 });
  assert.deepEqual(back.departures, []);
  assert.deepEqual(back.back.map((b) => [b.groupId, b.member.clientId, b.previousClientId]), [
    ["room", 7, 1],
  ]);
  assert.deepEqual(back.back[0].owner, { userId: 10, clientId: 7, name: "alice1" });
  assert.deepEqual(back.back[0].others, [2, 3]);
  assert.deepEqual(clock.pending(), [], "the timer is stopped");
  assert.equal(grace.waiting, 0);
  const after = registry.peek("room")!;
  assert.deepEqual(after.members.map((m) => [m.clientId, m.userId, m.joinedAt, m.away]), [
    [7, 10, 1000, undefined],
    [2, 20, 1001, undefined],
    [3, 30, 1002, undefined],
  ]);
  assert.deepEqual(registry.list({ clientId: 7, userId: 10 }).map((g) => [g.groupId, g.isOwner]), [
    ["room", true],
  ]);
  assert.deepEqual(registry.list(alice), [], "the old connection has no group left");
  assert.deepEqual(registry.recipients({ caller: bob, groupId: "room" }), [7, 3]);
});

Deno.test("reconnect grace: when the grace ends the member leaves, and ownership passes on", () => {
  const { registry, grace, clock, expired } = setup();
  grace.left({ clientId: 1, userId: 10 });
  clock.fire();
  assert.equal(expired.length, 1);
  assert.equal(expired[0].clientId, 1);
  const [departure] = expired[0].departures;
  assert.deepEqual(
    [departure.groupId, departure.ended, departure.ownerChanged, departure.remaining],
    ["room", false, true, [2, 3]],
  );
  assert.equal(departure.owner?.clientId, 2);
  assert.equal(registry.peek("room")!.members.length, 2);
  // Too late: the user's next login changes nothing.
  assert.deepEqual(grace.bound({ clientId: 8, userId: 10 }).back, []);
  assert.deepEqual(registry.list({ clientId: 8, userId: 10 }), []);
});

Deno.test("reconnect grace: another user's login cannot take the place", () => {
  const { registry, grace, clock } = setup();
  grace.left({ clientId: 1, userId: 10 });
  const stranger = grace.bound({ clientId: 9, userId: 99 });
  assert.deepEqual(stranger, { departures: [], away: [], back: [] });
  assert.deepEqual(registry.list({ clientId: 9, userId: 99 }), []);
  assert.equal(grace.isAway(1), true);
  assert.deepEqual(clock.pending(), [30_000]);
});

Deno.test("reconnect grace: a connection no longer bound (logout, deletion) leaves at once", () => {
  const { registry, grace, clock } = setup();
  const left = grace.left({ clientId: 2, userId: 0 });
  assert.deepEqual(left.away, []);
  assert.deepEqual(left.departures.map((d) => [d.groupId, d.member.clientId, d.remaining]), [
    ["room", 2, [1, 3]],
  ]);
  assert.deepEqual(clock.pending(), []);
  assert.deepEqual(grace.bound({ clientId: 8, userId: 20 }).back, []);
  assert.equal(registry.peek("room")!.members.length, 2);
});

Deno.test("reconnect grace: off at 0, and a gate going down ends away members at once", () => {
  const off = setup({ graceMs: 0 });
  const left = off.grace.left({ clientId: 1, userId: 10 });
  assert.deepEqual(left.away, []);
  assert.equal(left.departures.length, 1);
  assert.deepEqual(off.clock.pending(), []);

  const { registry, grace, clock } = setup();
  grace.left({ clientId: 3, userId: 30 });
  assert.deepEqual(grace.left({ clientId: 3, userId: 30 }).departures, [], "a leave told twice");
  const down = grace.left({ clientId: 3, userId: 0, grace: false });
  assert.deepEqual(down.departures.map((d) => d.member.clientId), [3]);
  assert.deepEqual(clock.pending(), []);
  assert.equal(grace.waiting, 0);
  const gone = grace.left({ clientId: 2, userId: 20, grace: false });
  assert.deepEqual(gone.away, []);
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [1]);
});

Deno.test("reconnect grace: a login that overtook the old connection's leave takes its place at once", () => {
  const { registry, grace, clock } = setup();
  // Bob logs in on connection 5 while connection 2 is still open (the gate has not seen it drop).
  assert.deepEqual(grace.bound({ clientId: 5, userId: 20 }).back, []);
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [1, 2, 3]);
  // Connection 2 closes, unbound by the new login: its place goes to connection 5.
  const left = grace.left({ clientId: 2, userId: 0 });
  assert.deepEqual(left.away, []);
  assert.deepEqual(left.departures, []);
  assert.deepEqual(left.back.map((b) => [b.member.clientId, b.previousClientId, b.others]), [
    [5, 2, [1, 3]],
  ]);
  assert.deepEqual(clock.pending(), []);
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [1, 5, 3]);
  // Once connection 5 leaves too, its binding is forgotten: nothing else moves there.
  grace.left({ clientId: 5, userId: 0 });
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [1, 3]);
});

Deno.test("reconnect grace: the new connection already in the group keeps one membership", () => {
  const { registry, grace, key } = setup();
  grace.left({ clientId: 3, userId: 30 });
  registry.join({ caller: { clientId: 6, userId: 30 }, groupId: "room", key });
  const back = grace.bound({ clientId: 6, userId: 30 });
  assert.deepEqual(back.back, []);
  assert.deepEqual(back.departures.map((d) => [d.member.clientId, d.remaining]), [[3, [1, 2, 6]]]);
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [1, 2, 6]);
});

Deno.test("reconnect grace: with everyone away the group waits; the owner passes to a present member", () => {
  const { registry, grace, clock, expired } = setup();
  grace.left({ clientId: 2, userId: 20 });
  grace.left({ clientId: 3, userId: 30 });
  // Alice leaves for good: bob and carol are away, so the earliest of them owns it meanwhile.
  const departure = registry.leave({ caller: alice, groupId: "room" });
  assert.equal(departure.owner?.clientId, 2);
  assert.deepEqual(departure.remaining, [], "no one present to tell");
  assert.equal(departure.members, 2);
  assert.equal(registry.size, 1, "the group waits for its away members");
  grace.bound({ clientId: 8, userId: 30 });
  // Carol is back; bob's grace ends: carol, present, owns it.
  clock.fire();
  assert.equal(expired[0].departures[0].owner?.clientId, 8);
  assert.deepEqual(expired[0].departures[0].remaining, [8]);
});

Deno.test("reconnect grace: clear forgets every away member and stops the timers", () => {
  const { registry, grace, clock } = setup();
  grace.left({ clientId: 1, userId: 10 });
  registry.clear();
  grace.clear();
  assert.equal(grace.waiting, 0);
  assert.deepEqual(clock.pending(), []);
  assert.deepEqual(grace.bound({ clientId: 7, userId: 10 }).back, []);
});

Deno.test("reconnect grace: the grace period must be an integer from 0 to one day", () => {
  const registry = new GroupRegistry({ limits: { maxMembers: 1, maxGroupsPerUser: 1 } });
  for (const graceMs of [-1, 1.5, 86_400_001, Number.NaN]) {
    assert.throws(
      () => new ReconnectGrace({ registry, graceMs, onExpired: () => {} }),
      /graceMs must be an integer from 0 to 86400000/,
    );
  }
});

Deno.test("reconnect grace: a binding is forgotten when its connection is rebound or its gate goes down", () => {
  const { registry, grace } = setup();
  // Bob logs in on connection 5 (connection 2 still open), then someone else logs in on 5.
  grace.bound({ clientId: 5, userId: 20 });
  grace.bound({ clientId: 5, userId: 99 });
  assert.deepEqual(grace.left({ clientId: 2, userId: 0 }).back, [], "no move to connection 5");
  assert.deepEqual(registry.list({ clientId: 5, userId: 99 }), []);
  // Carol logs in on connection 6, whose gate then goes down: nothing moves to a dead clientId.
  grace.bound({ clientId: 6, userId: 30 });
  grace.gateDown({ from: 6, to: 7 });
  assert.deepEqual(grace.left({ clientId: 3, userId: 0 }).back, []);
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [1]);
});

Deno.test("reconnect grace: an unbound member is away on its open connection, which is no member any more; its close changes nothing", () => {
  const { registry, grace, clock, expired } = setup();
  const unbound = grace.unbound({ clientId: 1, userId: 10 });
  assert.deepEqual(unbound.departures, []);
  assert.deepEqual(unbound.away.map((a) => [a.groupId, a.member.clientId, a.others]), [
    ["room", 1, [2, 3]],
  ]);
  assert.deepEqual(clock.pending(), [30_000]);
  assert.deepEqual(registry.recipients({ caller: bob, groupId: "room" }), [3]);
  assert.deepEqual(registry.list({ clientId: 1, userId: 0 }), [], "the connection lists none");
  assert.equal(registry.hasMember({ groupId: "room", clientId: 1 }), false);
  assert.deepEqual(grace.left({ clientId: 1, userId: 0 }), { departures: [], away: [], back: [] });
  assert.deepEqual(clock.pending(), [30_000], "the close leaves the grace running");
  clock.fire();
  assert.deepEqual(expired.map((e) => [e.clientId, e.departures.map((d) => d.groupId)]), [
    [1, ["room"]],
  ]);
});

Deno.test("reconnect grace: an unbound member comes back on its user's next login, there or on the same connection", () => {
  const { registry, grace, clock } = setup();
  grace.bound({ clientId: 1, userId: 10 });
  grace.unbound({ clientId: 1, userId: 10 });
  const elsewhere = grace.bound({ clientId: 7, userId: 10 });
  assert.deepEqual(elsewhere.back.map((b) => [b.groupId, b.member.clientId, b.previousClientId]), [
    ["room", 7, 1],
  ]);
  assert.deepEqual(elsewhere.departures, []);
  assert.deepEqual(clock.pending(), []);
  grace.unbound({ clientId: 7, userId: 10 });
  const again = grace.bound({ clientId: 7, userId: 10 });
  assert.deepEqual(again.back.map((b) => [b.groupId, b.member.clientId, b.previousClientId]), [
    ["room", 7, 7],
  ]);
  assert.deepEqual(again.departures, []);
  assert.deepEqual(registry.list({ clientId: 7, userId: 10 }).map((g) => [g.groupId, g.isOwner]), [
    ["room", true],
  ]);
  assert.deepEqual(registry.recipients({ caller: bob, groupId: "room" }), [7, 3]);
});

Deno.test("reconnect grace: another user logging in on an unbound connection ends the memberships away there", () => {
  const { registry, grace, clock } = setup();
  grace.unbound({ clientId: 1, userId: 10 });
  const stranger = grace.bound({ clientId: 1, userId: 99 });
  assert.deepEqual(stranger.departures.map((d) => [d.groupId, d.member.userId, d.remaining]), [
    ["room", 10, [2, 3]],
  ]);
  assert.deepEqual(clock.pending(), []);
  assert.deepEqual(registry.list({ clientId: 1, userId: 99 }), []);
});

Deno.test("reconnect grace: an unbind moves the memberships to the user's other open connection, or ends them without a grace", () => {
  const { registry, grace } = setup();
  grace.bound({ clientId: 8, userId: 10 });
  const moved = grace.unbound({ clientId: 1, userId: 10 });
  assert.deepEqual(moved.back.map((b) => [b.groupId, b.member.clientId, b.previousClientId]), [
    ["room", 8, 1],
  ]);
  assert.deepEqual(moved.away, []);
  assert.equal(grace.waiting, 0);

  const off = setup({ graceMs: 0 });
  const ended = off.grace.unbound({ clientId: 1, userId: 10 });
  assert.deepEqual(ended.departures.map((d) => [d.groupId, d.member.clientId, d.remaining]), [
    ["room", 1, [2, 3]],
  ]);
  assert.deepEqual(off.grace.unbound({ clientId: 2, userId: 99 }), {
    departures: [],
    away: [],
    back: [],
  }, "an unbind of a user the connection did not join as changes nothing");
  assert.equal(off.registry.peek("room")!.members.length, 2);
  assert.deepEqual(registry.peek("room")!.members.map((m) => m.clientId), [8, 2, 3]);
});
