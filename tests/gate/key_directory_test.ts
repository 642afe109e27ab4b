import assert from "node:assert/strict";
import {
  KeyDirectory,
  MAX_KEY_NOTIFY_TARGETS,
  MAX_KEYS_PER_OWNER,
} from "../../server/gate/key_directory.ts";

Deno.test("key directory: one owner per key, claimed again by its owner only", () => {
  const keys = new KeyDirectory<string>();
  assert.deepEqual(keys.claim({ space: "group", key: "room", owner: "a" }), {
    ok: true,
    again: false,
  });
  assert.deepEqual(keys.claim({ space: "group", key: "room", owner: "b" }), {
    ok: false,
    msg: "Key room is claimed by another instance",
  });
  assert.deepEqual(keys.claim({ space: "group", key: "room", owner: "a" }), {
    ok: true,
    again: true,
  });
  // Another key space is another key.
  assert.equal(keys.claim({ space: "chat", key: "room", owner: "b" }).ok, true);
  assert.equal(keys.owner("group", "room"), "a");
  assert.equal(keys.owner("chat", "room"), "b");
  assert.equal(keys.owner("group", "none"), undefined);
  // The space's length keeps "ab"+"c" apart from "a"+"bc".
  keys.claim({ space: "ab", key: "c", owner: "x" });
  assert.equal(keys.owner("a", "bc"), undefined);
  assert.equal(keys.size, 3);
});

Deno.test("key directory: only the owner releases; a released key can be claimed again", () => {
  const keys = new KeyDirectory<string>();
  keys.claim({ space: "s", key: "k", owner: "a" });
  assert.equal(keys.release({ space: "s", key: "k", owner: "b" }), undefined);
  assert.equal(keys.owner("s", "k"), "a");
  assert.equal(keys.release({ space: "s", key: "k", owner: "a" })?.key, "k");
  assert.equal(keys.owner("s", "k"), undefined);
  assert.equal(keys.countOf("a"), 0);
  assert.deepEqual(keys.claim({ space: "s", key: "k", owner: "b" }), { ok: true, again: false });
});

Deno.test("key directory: an owner that goes away drops its keys with their notify lists", () => {
  const keys = new KeyDirectory<string>();
  const notify = { cmd: "sc_gone", data: { why: "lost" }, clientIds: [5] };
  keys.claim({ space: "s", key: "k1", owner: "a", notify });
  keys.claim({ space: "s", key: "k2", owner: "a" });
  keys.claim({ space: "s", key: "k3", owner: "b" });
  assert.equal(keys.notify({ space: "s", key: "k1", owner: "a", add: [6, 7], remove: [5] }), true);
  assert.equal(keys.notify({ space: "s", key: "k1", owner: "b", add: [8] }), false);
  // A claim again without clientIds keeps them; with new data it replaces the push.
  keys.claim({ space: "s", key: "k1", owner: "a", notify: { cmd: "sc_gone", data: { v: 2 } } });
  const dropped = keys.dropOwner("a");
  assert.deepEqual(dropped.map((d) => d.key).sort(), ["k1", "k2"]);
  const k1 = dropped.find((d) => d.key === "k1")!;
  assert.deepEqual([...k1.notify!.clientIds], [6, 7]);
  assert.deepEqual(k1.notify!.data, { v: 2 });
  assert.equal(dropped.find((d) => d.key === "k2")!.notify, undefined);
  assert.equal(keys.owner("s", "k1"), undefined);
  assert.equal(keys.owner("s", "k3"), "b");
  assert.deepEqual(keys.dropOwner("a"), []);
});

Deno.test("key directory: the notify list and the keys per owner are bounded", () => {
  const keys = new KeyDirectory<string>();
  keys.claim({ space: "s", key: "k", owner: "a", notify: { cmd: "c" } });
  const ids = Array.from({ length: MAX_KEY_NOTIFY_TARGETS }, (_, i) => i + 1);
  keys.notify({ space: "s", key: "k", owner: "a", add: ids });
  assert.throws(
    () => keys.notify({ space: "s", key: "k", owner: "a", add: [MAX_KEY_NOTIFY_TARGETS + 1] }),
    { message: `Key k tells the most clientIds allowed (${MAX_KEY_NOTIFY_TARGETS})` },
  );
  // An id already in the list is no new target.
  assert.equal(keys.notify({ space: "s", key: "k", owner: "a", add: [1] }), true);
  assert.ok(MAX_KEYS_PER_OWNER >= 100_000);
});
