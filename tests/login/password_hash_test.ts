import assert from "node:assert/strict";
import {
  formatPasswordHash,
  HASH_COSTS,
  HasherBusyError,
  isHashCost,
  isWeaker,
  parsePasswordHash,
  PasswordHasher,
} from "../../server/login/password_hash.ts";

Deno.test("password hash: a PHC string with the parameters, a fresh salt each time", async () => {
  const hasher = new PasswordHasher({ params: HASH_COSTS.test });
  const a = await hasher.hash("secret123");
  const b = await hasher.hash("secret123");
  assert.match(a, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(a, b, "salted");
  assert.equal(a.includes("secret123"), false);
  const parsed = parsePasswordHash(a)!;
  assert.deepEqual(parsed.params, { ln: 10, r: 8, p: 1 });
  assert.equal(parsed.salt.length, 16);
  assert.equal(parsed.hash.length, 32);
  assert.equal(formatPasswordHash(parsed), a);
});

Deno.test("password hash: verify accepts the password and nothing else", async () => {
  const hasher = new PasswordHasher({ params: HASH_COSTS.test });
  const stored = await hasher.hash("secret123");
  assert.deepEqual(await hasher.verify({ stored, password: "secret123" }), {
    ok: true,
    needsRehash: false,
  });
  for (const wrong of ["secret124", "Secret123", "secret12", ""]) {
    assert.equal((await hasher.verify({ stored, password: wrong })).ok, false, wrong);
  }
  for (const garbage of ["", "secret123", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA", "$argon2id$x"]) {
    assert.deepEqual(await hasher.verify({ stored: garbage, password: "secret123" }), {
      ok: false,
      needsRehash: false,
    });
  }
  assert.equal(await hasher.verifyUnknown("secret123"), false);
});

Deno.test("password hash: a hash weaker than the current cost asks for a re-hash", async () => {
  const weak = new PasswordHasher({ params: HASH_COSTS.test });
  const stronger = new PasswordHasher({ params: { ln: 11, r: 8, p: 1 } });
  const stored = await weak.hash("secret123");
  assert.deepEqual(await stronger.verify({ stored, password: "secret123" }), {
    ok: true,
    needsRehash: true,
  });
  assert.deepEqual(await stronger.verify({ stored, password: "wrong1234" }), {
    ok: false,
    needsRehash: false,
  });
  assert.equal(isWeaker({ ln: 16, r: 8, p: 1 }, HASH_COSTS.owasp), true);
  assert.equal(isWeaker({ ln: 17, r: 8, p: 2 }, HASH_COSTS.owasp), false);
  assert.equal(isWeaker(HASH_COSTS.owasp, HASH_COSTS.owasp), false);
});

Deno.test("password hash: the OWASP cost is N=2^16, r=8, p=2", () => {
  assert.deepEqual({ ...HASH_COSTS.owasp }, { ln: 16, r: 8, p: 2 });
  assert.equal(isHashCost("owasp"), true);
  assert.equal(isHashCost("test"), true);
  assert.equal(isHashCost("toString"), false);
  assert.equal(isHashCost("cheap"), false);
});

Deno.test("password hash: at most `concurrency` run at once; a full queue refuses", async () => {
  const hasher = new PasswordHasher({ params: HASH_COSTS.test, concurrency: 2, maxQueue: 3 });
  let most = 0;
  const watch = setInterval(() => most = Math.max(most, hasher.running), 0);
  const runs = Array.from({ length: 5 }, (_, i) => hasher.hash("secret123", { source: `s${i}` }));
  assert.equal(hasher.running, 2);
  assert.equal(hasher.waiting, 3);
  await assert.rejects(hasher.hash("secret123", { source: "s9" }), HasherBusyError);
  await Promise.all(runs);
  clearInterval(watch);
  assert.ok(most <= 2);
  assert.equal(hasher.running, 0);
  assert.equal(hasher.waiting, 0);
});

Deno.test("password hash: a check that waited too long is refused, not run", async () => {
  const hasher = new PasswordHasher({
    params: { ln: 14, r: 8, p: 1 },
    concurrency: 1,
    maxWaitMs: 0,
  });
  const first = hasher.hash("secret123");
  const second = hasher.hash("secret123");
  await first;
  await assert.rejects(second, HasherBusyError);
  assert.equal(hasher.running, 0);
});
