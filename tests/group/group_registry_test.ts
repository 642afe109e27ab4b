import assert from "node:assert/strict";
import { ServiceError } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import {
  type Caller,
  GroupRegistry,
  type GroupRegistryOptions,
} from "../../server/group/group_registry.ts";
import {
  ASSIGNED_ID_LENGTH,
  ASSIGNED_KEY_LENGTH,
  GROUP_ID_PATTERN,
  hashGroupKey,
  isGroupKey,
  newGroupId,
  newGroupKey,
  sameGroupKey,
} from "../../server/group/group_ids.ts";

const alice: Caller = { clientId: 1, userId: 10 };
const bob: Caller = { clientId: 2, userId: 20 };
const carol: Caller = { clientId: 3, userId: 30 };
const service: Caller = { clientId: 4, userId: 0 };

function registry(options: Partial<GroupRegistryOptions> = {}): GroupRegistry {
  let t = 1000;
  return new GroupRegistry({
    limits: { maxMembers: 1000, maxGroupsPerUser: 100 },
    now: () => t++,
    ...options,
  });
}

/** Asserts that `fn` throws a ServiceError with `state` and a message matching `msg`. */
function refuses(fn: () => unknown, state: number, msg: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ServiceError, String(error));
    assert.equal(error.state, state, error.message);
    assert.match(error.message, msg);
    return true;
  });
}

Deno.test("group ids: assigned ids and keys are random url-safe text of the right length", () => {
  const ids = new Set(Array.from({ length: 200 }, newGroupId));
  assert.equal(ids.size, 200);
  for (const id of ids) {
    assert.equal(id.length, ASSIGNED_ID_LENGTH);
    assert.match(id, GROUP_ID_PATTERN);
  }
  const key = newGroupKey();
  assert.equal(key.length, ASSIGNED_KEY_LENGTH);
  assert.match(key, /^[A-Za-z0-9_-]+$/);
  assert.ok(isGroupKey(key));
  assert.ok(!isGroupKey(""));
  assert.ok(!isGroupKey("k".repeat(129)));
  assert.ok(isGroupKey("k".repeat(128)));
  assert.ok(!isGroupKey(42));
});

Deno.test("group ids: keys are compared through their hashes", () => {
  const stored = hashGroupKey("s3cret");
  assert.ok(sameGroupKey(stored, "s3cret"));
  assert.ok(!sameGroupKey(stored, "s3cres"));
  assert.ok(!sameGroupKey(stored, "s3cret "));
  assert.ok(!sameGroupKey(stored, ""));
});

Deno.test("group registry: create assigns id and key; the creator is member and owner", () => {
  const groups = registry();
  const created = groups.create({ caller: alice });
  assert.equal(created.groupId.length, ASSIGNED_ID_LENGTH);
  assert.equal(created.key.length, ASSIGNED_KEY_LENGTH);
  assert.deepEqual(created.owner, { userId: 10, clientId: 1 });
  assert.deepEqual(groups.members({ caller: alice, groupId: created.groupId }), {
    groupId: created.groupId,
    owner: { userId: 10, clientId: 1 },
    members: [{ userId: 10, clientId: 1, joinedAt: 1000 }],
  });
  assert.equal(groups.size, 1);
});

Deno.test("group registry: a given id and key are kept; a given id that exists is refused", () => {
  const groups = registry();
  const created = groups.create({ caller: alice, groupId: "room-1", key: "k" });
  assert.deepEqual(created, { groupId: "room-1", key: "k", owner: { userId: 10, clientId: 1 } });
  refuses(() => groups.create({ caller: bob, groupId: "room-1" }), State.FAIL, /room-1.*exists/);
  assert.equal(groups.size, 1);
});

Deno.test("group registry: an assigned id never collides with an existing group", () => {
  const ids = ["same", "same", "other"];
  const groups = registry({ newId: () => ids.shift()! });
  assert.equal(groups.create({ caller: alice }).groupId, "same");
  assert.equal(groups.create({ caller: alice }).groupId, "other");
});

Deno.test("group registry: join needs the right key; unknown groups fail", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  refuses(() => groups.join({ caller: bob, groupId, key: key + "x" }), State.FORBIDDEN, /key/);
  refuses(() => groups.join({ caller: bob, groupId, key: "" }), State.FORBIDDEN, /key/);
  refuses(() => groups.join({ caller: bob, groupId: "nope", key }), State.FAIL, /^No group nope$/);
  const outcome = groups.join({ caller: bob, groupId, key });
  assert.equal(outcome.joined, true);
  assert.deepEqual(outcome.others, [1]);
  assert.deepEqual(outcome.member, { userId: 20, clientId: 2, joinedAt: 1001 });
  assert.deepEqual(outcome.group.members.map((m) => m.clientId), [1, 2]);
});

Deno.test("group registry: joining again on the same connection changes nothing", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  groups.join({ caller: bob, groupId, key });
  const again = groups.join({ caller: bob, groupId, key });
  assert.equal(again.joined, false);
  assert.deepEqual(again.others, []);
  assert.equal(again.member.joinedAt, 1001);
  assert.equal(groups.members({ caller: bob, groupId }).members.length, 2);
  // The key is still checked, so membership cannot be probed without it.
  refuses(() => groups.join({ caller: bob, groupId, key: "wrong" }), State.FORBIDDEN, /key/);
});

Deno.test("group registry: the same user on two connections is two members", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  const aliceAgain: Caller = { clientId: 9, userId: 10 };
  assert.equal(groups.join({ caller: aliceAgain, groupId, key }).joined, true);
  assert.deepEqual(groups.recipients({ caller: alice, groupId }), [9]);
  assert.deepEqual(groups.recipients({ caller: aliceAgain, groupId }), [1]);
});

Deno.test("group registry: send and members need membership", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  refuses(() => groups.recipients({ caller: bob, groupId }), State.FORBIDDEN, /members/);
  refuses(() => groups.members({ caller: bob, groupId }), State.FORBIDDEN, /members/);
  refuses(() => groups.recipients({ caller: bob, groupId: "x" }), State.FAIL, /^No group x$/);
  groups.join({ caller: bob, groupId, key });
  groups.join({ caller: carol, groupId, key });
  assert.deepEqual(groups.recipients({ caller: bob, groupId }), [1, 3]);
});

Deno.test("group registry: leave tells the rest; the owner's leave hands over to the earliest", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  groups.join({ caller: bob, groupId, key });
  groups.join({ caller: carol, groupId, key });
  refuses(() => groups.leave({ caller: service, groupId }), State.FAIL, /not a member/);
  const first = groups.leave({ caller: alice, groupId });
  assert.deepEqual(first, {
    groupId,
    member: { userId: 10, clientId: 1, joinedAt: 1000 },
    ended: false,
    owner: { userId: 20, clientId: 2 },
    ownerChanged: true,
    remaining: [2, 3],
    members: 2,
  });
  const second = groups.leave({ caller: carol, groupId });
  assert.equal(second.ownerChanged, false);
  assert.deepEqual(second.owner, { userId: 20, clientId: 2 });
  assert.deepEqual(second.remaining, [2]);
  const last = groups.leave({ caller: bob, groupId });
  assert.equal(last.ended, true);
  assert.deepEqual(last.remaining, []);
  assert.equal(groups.size, 0);
  refuses(() => groups.join({ caller: alice, groupId, key }), State.FAIL, /No group/);
});

Deno.test("group registry: a member who leaves and joins again is no longer among the earliest", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  groups.join({ caller: bob, groupId, key });
  groups.join({ caller: carol, groupId, key });
  groups.leave({ caller: bob, groupId });
  groups.join({ caller: bob, groupId, key });
  assert.deepEqual(groups.leave({ caller: alice, groupId }).owner, { userId: 30, clientId: 3 });
});

Deno.test("group registry: a client that leaves the gate leaves all its groups", () => {
  const groups = registry();
  const a = groups.create({ caller: alice, groupId: "a" });
  const b = groups.create({ caller: bob, groupId: "b" });
  groups.create({ caller: carol, groupId: "c" });
  groups.join({ caller: bob, groupId: "a", key: a.key });
  groups.join({ caller: alice, groupId: "b", key: b.key });
  const departures = groups.clientLeft(1);
  assert.deepEqual(
    departures.map((d) => [d.groupId, d.ended, d.ownerChanged, d.remaining]),
    [["a", false, true, [2]], ["b", false, false, [2]]],
  );
  assert.deepEqual(groups.list(alice), []);
  assert.deepEqual(groups.clientLeft(1), []);
  assert.deepEqual(groups.list(bob).map((g) => [g.groupId, g.members, g.isOwner]), [
    ["b", 1, true],
    ["a", 1, true],
  ]);
});

Deno.test("group registry: only the owner may dismiss; everyone else is told", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice });
  groups.join({ caller: bob, groupId, key });
  groups.join({ caller: carol, groupId, key });
  refuses(() => groups.dismiss({ caller: bob, groupId }), State.FORBIDDEN, /owner/);
  refuses(() => groups.dismiss({ caller: service, groupId }), State.FORBIDDEN, /owner/);
  refuses(() => groups.dismiss({ caller: alice, groupId: "zz" }), State.FAIL, /^No group zz$/);
  const dismissal = groups.dismiss({ caller: alice, groupId });
  assert.deepEqual(dismissal.others, [2, 3]);
  assert.equal(dismissal.members.length, 3);
  assert.equal(groups.size, 0);
  assert.deepEqual(groups.list(bob), []);
  // Room in the groups-per-user count is given back.
  const small = registry({ limits: { maxMembers: 10, maxGroupsPerUser: 1 } });
  const g = small.create({ caller: alice });
  small.dismiss({ caller: alice, groupId: g.groupId });
  small.create({ caller: alice });
});

Deno.test("group registry: list answers the connection's groups in join order", () => {
  const groups = registry();
  const x = groups.create({ caller: bob, groupId: "x" });
  groups.create({ caller: alice, groupId: "y" });
  groups.join({ caller: alice, groupId: "x", key: x.key });
  assert.deepEqual(groups.list(alice), [
    { groupId: "y", owner: { userId: 10, clientId: 1 }, members: 1, isOwner: true },
    { groupId: "x", owner: { userId: 20, clientId: 2 }, members: 2, isOwner: false },
  ]);
  assert.deepEqual(groups.list({ clientId: 99, userId: 1 }), []);
});

Deno.test("group registry: members per group are limited", () => {
  const groups = registry({ limits: { maxMembers: 2, maxGroupsPerUser: 100 } });
  const { groupId, key } = groups.create({ caller: alice });
  groups.join({ caller: bob, groupId, key });
  refuses(() => groups.join({ caller: carol, groupId, key }), State.FAIL, /full.*2 members/);
  // A member joining again is not refused by a full group.
  assert.equal(groups.join({ caller: bob, groupId, key }).joined, false);
  groups.leave({ caller: bob, groupId });
  assert.equal(groups.join({ caller: carol, groupId, key }).joined, true);
});

Deno.test("group registry: groups per user are limited over all the user's connections", () => {
  const groups = registry({ limits: { maxMembers: 100, maxGroupsPerUser: 2 } });
  const g1 = groups.create({ caller: alice, groupId: "g1" });
  groups.create({ caller: bob, groupId: "g2", key: "k2" });
  groups.join({ caller: alice, groupId: "g2", key: "k2" });
  refuses(() => groups.create({ caller: alice }), State.FAIL, /most groups allowed \(2\)/);
  const aliceAgain: Caller = { clientId: 9, userId: 10 };
  refuses(() => groups.create({ caller: aliceAgain }), State.FAIL, /most groups allowed \(2\)/);
  // Another connection of the user may join a group the user is already in.
  assert.equal(groups.join({ caller: aliceAgain, groupId: "g1", key: g1.key }).joined, true);
  groups.create({ caller: bob, groupId: "g3", key: "k3" });
  refuses(() => groups.join({ caller: aliceAgain, groupId: "g3", key: "k3" }), State.FAIL, /2/);
  // Leaving with one connection keeps the group counted while the other is still in it.
  groups.leave({ caller: alice, groupId: "g1" });
  refuses(() => groups.create({ caller: alice }), State.FAIL, /most groups allowed \(2\)/);
  groups.leave({ caller: aliceAgain, groupId: "g1" });
  groups.create({ caller: alice, groupId: "g4" });
  // Service links (userId 0) count per connection, not as one user.
  const other: Caller = { clientId: 5, userId: 0 };
  groups.create({ caller: service });
  groups.create({ caller: service });
  refuses(() => groups.create({ caller: service }), State.FAIL, /most groups allowed \(2\)/);
  groups.create({ caller: other });
});

Deno.test("group registry: clear ends every group and forgets every member", () => {
  const groups = registry({ limits: { maxMembers: 100, maxGroupsPerUser: 1 } });
  groups.create({ caller: alice });
  groups.create({ caller: bob });
  assert.equal(groups.clear(), 2);
  assert.equal(groups.size, 0);
  assert.deepEqual(groups.list(alice), []);
  groups.create({ caller: alice });
});

Deno.test("group registry: limits must be positive integers", () => {
  assert.throws(
    () => new GroupRegistry({ limits: { maxMembers: 0, maxGroupsPerUser: 1 } }),
    RangeError,
  );
  assert.throws(
    () => new GroupRegistry({ limits: { maxMembers: 1, maxGroupsPerUser: 1.5 } }),
    RangeError,
  );
});

Deno.test("group registry: answers are copies that callers cannot use to change the state", () => {
  const groups = registry();
  const { groupId } = groups.create({ caller: alice });
  const info = groups.members({ caller: alice, groupId });
  info.members[0].clientId = 99;
  info.owner.userId = 99;
  assert.deepEqual(groups.peek(groupId)?.members[0].clientId, 1);
  assert.deepEqual(groups.peek(groupId)?.owner.userId, 10);
});

Deno.test("group registry: a connection that logged in as someone else is not a member for them", () => {
  const groups = registry();
  const { groupId, key } = groups.create({ caller: alice, groupId: "g" });
  groups.join({ caller: bob, groupId, key });
  // Alice's connection now carries another user.
  const switched: Caller = { clientId: 1, userId: 99 };
  refuses(() => groups.recipients({ caller: switched, groupId }), State.FORBIDDEN, /members/);
  refuses(() => groups.members({ caller: switched, groupId }), State.FORBIDDEN, /members/);
  refuses(() => groups.dismiss({ caller: switched, groupId }), State.FORBIDDEN, /owner/);
  refuses(() => groups.join({ caller: switched, groupId, key }), State.FAIL, /another user/);
  assert.deepEqual(groups.list(switched), [], "the earlier user's groups are not listed");
  // It may still leave: the membership is the connection's.
  const departure = groups.leave({ caller: switched, groupId });
  assert.deepEqual(departure.member.userId, 10);
  assert.deepEqual(departure.owner, { userId: 20, clientId: 2 });
  assert.equal(groups.join({ caller: switched, groupId, key }).joined, true);
});

Deno.test("group registry: memberships count members over every group", () => {
  const groups = new GroupRegistry({ limits: { maxMembers: 10, maxGroupsPerUser: 10 } });
  const one = groups.create({ caller: alice, key: "k" });
  const two = groups.create({ caller: alice, key: "k" });
  groups.join({ caller: bob, groupId: one.groupId, key: "k" });
  groups.join({ caller: bob, groupId: two.groupId, key: "k" });
  groups.join({ caller: carol, groupId: one.groupId, key: "k" });
  assert.equal(groups.memberships, 5);
  groups.leave({ caller: carol, groupId: one.groupId });
  assert.equal(groups.memberships, 4);
  groups.clientLeft(bob.clientId);
  assert.equal(groups.memberships, 2);
  groups.dismiss({ caller: alice, groupId: two.groupId });
  assert.equal(groups.memberships, 1);
  groups.clear();
  assert.equal(groups.memberships, 0);
});
