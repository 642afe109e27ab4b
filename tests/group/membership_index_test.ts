import assert from "node:assert/strict";
import { MembershipIndex } from "../../server/group/membership_index.ts";

const member = (userId: number, clientId: number) => ({ userId, clientId, joinedAt: 1 });

Deno.test("membership index: a user's groups count over its connections, a link's per connection", () => {
  const index = new MembershipIndex();
  index.added("a", member(7, 1));
  index.added("b", member(7, 1));
  index.added("a", member(7, 2)); // the same user on a second connection
  index.added("a", member(0, 9)); // a service link
  assert.equal(index.memberships, 4);
  assert.deepEqual([...index.groupsOf(1)], ["a", "b"]);
  assert.deepEqual([...index.groupsOf(2)], ["a"]);
  assert.deepEqual(
    new Map(index.userGroups({ userId: 7, clientId: 3 })),
    new Map([["a", 2], ["b", 1]]),
  );
  assert.deepEqual(new Map(index.userGroups({ userId: 0, clientId: 9 })), new Map([["a", 1]]));
  assert.equal(index.userGroups({ userId: 0, clientId: 8 }), undefined);
  assert.equal(index.hasUser(7), true);
  assert.equal(index.hasUser(0), false);

  // One of the user's two connections leaves "a": the user is still in it.
  index.removed("a", member(7, 1));
  assert.deepEqual(
    new Map(index.userGroups({ userId: 7, clientId: 1 })),
    new Map([["a", 1], ["b", 1]]),
  );
  index.removed("a", member(7, 2));
  index.removed("b", member(7, 1));
  assert.equal(index.hasUser(7), false);
  assert.deepEqual([...index.groupsOf(1)], []);
  assert.deepEqual([...index.clientIds()], [9]);
  assert.equal(index.memberships, 1);
});

Deno.test("membership index: a moved membership follows its new connection; clear forgets all", () => {
  const index = new MembershipIndex();
  index.added("a", member(7, 1));
  index.added("b", member(7, 1));
  index.moved("a", { from: 1, to: 5 });
  assert.deepEqual([...index.groupsOf(1)], ["b"]);
  assert.deepEqual([...index.groupsOf(5)], ["a"]);
  index.moved("b", { from: 1, to: 5 });
  assert.deepEqual([...index.clientIds()], [5]);
  assert.equal(index.memberships, 2);
  index.clear();
  assert.equal(index.memberships, 0);
  assert.deepEqual([...index.clientIds()], []);
  assert.equal(index.hasUser(7), false);
});
