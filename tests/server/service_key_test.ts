import assert from "node:assert/strict";
import {
  loadOrCreateServiceKey,
  readServiceKey,
  serviceKeyPath,
  timingSafeEqualText,
} from "../../server/service_key.ts";

Deno.test("gates starting at once on one data dir agree on one service key", async () => {
  const dir = await Deno.makeTempDir();
  const keys = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateServiceKey(dir)));
  assert.equal(new Set(keys.map((k) => k.key)).size, 1);
  assert.equal(keys.filter((k) => k.created).length, 1, "exactly one of them created the file");
  assert.match(keys[0].key, /^[0-9a-f]{64}$/);
  assert.equal((await Deno.stat(serviceKeyPath(dir))).mode! & 0o777, 0o600);
  assert.equal(await readServiceKey(dir), keys[0].key);
  const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "sskey");
  assert.deepEqual(leftovers, [], "no temporary files are left");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a service without a key file or GATEHOUSE_SSKEY gets a sentence naming the file", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(readServiceKey(dir), /GATEHOUSE_SSKEY .*\/sskey/);
  await Deno.remove(dir);
});

Deno.test("timingSafeEqualText compares whole secrets", () => {
  assert.equal(timingSafeEqualText("abc", "abc"), true);
  assert.equal(timingSafeEqualText("abc", "abd"), false);
  assert.equal(timingSafeEqualText("abc", "abcd"), false);
  assert.equal(timingSafeEqualText("", ""), true);
  assert.equal(timingSafeEqualText("é", "e"), false);
});
