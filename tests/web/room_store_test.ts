import assert from "node:assert/strict";
import { ROOM_KEY, RoomStore } from "../../web/app/room_store.ts";
import { memoryStorage } from "./memory_storage.ts";

Deno.test("room store: keeps the page's group id and key, and forgets them", () => {
  const storage = memoryStorage();
  const rooms = new RoomStore(storage);
  assert.equal(rooms.get(), undefined);
  rooms.set({ groupId: "room_1", key: "k&y é" });
  assert.deepEqual(JSON.parse(storage.getItem(ROOM_KEY)!), { groupId: "room_1", key: "k&y é" });
  assert.deepEqual(new RoomStore(storage).get(), { groupId: "room_1", key: "k&y é" });
  rooms.clear();
  assert.equal(rooms.get(), undefined);
});

Deno.test("room store: a malformed entry is no group, and a blocked storage keeps nothing", () => {
  const storage = memoryStorage();
  for (
    const text of ["{", "null", '"room"', '{"groupId":"no spaces","key":"k"}', '{"groupId":"a"}']
  ) {
    storage.setItem(ROOM_KEY, text);
    assert.equal(new RoomStore(storage).get(), undefined, text);
  }
  const blocked = new RoomStore(memoryStorage(true));
  blocked.set({ groupId: "a", key: "k" });
  assert.equal(blocked.get(), undefined);
  blocked.clear();
});
