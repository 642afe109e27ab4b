import assert from "node:assert/strict";
import { joinChunks, writeAll } from "../../server/socket_writes.ts";

Deno.test("writeAll keeps writing until every byte is taken", async () => {
  const taken: number[] = [];
  // A socket that takes at most 3 bytes a write.
  const conn = {
    write(bytes: Uint8Array): Promise<number> {
      const n = Math.min(3, bytes.length);
      taken.push(...bytes.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  await writeAll(conn, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(taken, [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("joinChunks joins in order, and hands a single part back uncopied", () => {
  const a = new Uint8Array([1, 2]);
  const b = new Uint8Array([3]);
  const c = new Uint8Array([4, 5, 6]);
  assert.deepEqual(joinChunks([a, b, c], 6), new Uint8Array([1, 2, 3, 4, 5, 6]));
  assert.equal(joinChunks([c], 3), c);
});
