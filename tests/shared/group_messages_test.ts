import assert from "node:assert/strict";
import { isDisplayName, isGroupId, isGroupKey } from "../../shared/group_messages.ts";

Deno.test("group messages: display names follow the username rule", () => {
  for (const name of ["alice1", "ABCdef123456", "a".repeat(16)]) assert.ok(isDisplayName(name));
  for (const name of ["abc", "a".repeat(17), "alice 1", "ålice1", 123456, undefined]) {
    assert.equal(isDisplayName(name), false, String(name));
  }
});

Deno.test("group messages: group ids and keys", () => {
  assert.ok(isGroupId("room_1-A"));
  assert.equal(isGroupId("room 1"), false);
  assert.equal(isGroupId("g".repeat(65)), false);
  assert.ok(isGroupKey("k"));
  assert.equal(isGroupKey(""), false);
  assert.equal(isGroupKey("k".repeat(129)), false);
});
