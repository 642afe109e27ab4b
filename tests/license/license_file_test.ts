import assert from "node:assert/strict";
import {
  canonicalTerms,
  checkLicense,
  isExpired,
  isIsoDate,
  licensePaths,
} from "../../server/license/license_file.ts";
import { makeLicenseDir, runTask, runTaskOk } from "./license_fixtures.ts";

Deno.test("keygen writes a 0600 private key and a public key, and will not overwrite them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_license_" });
  try {
    await runTaskOk("license:keygen", ["--data-dir", dir]);
    const paths = licensePaths(dir);
    assert.equal((await Deno.stat(paths.key)).mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(paths.key), /-----BEGIN PRIVATE KEY-----/);
    assert.match(await Deno.readTextFile(paths.pub), /-----BEGIN PUBLIC KEY-----/);
    const before = await Deno.readTextFile(paths.key);
    const again = await runTask("license:keygen", ["--data-dir", dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists; pass --force to replace it/);
    assert.equal(await Deno.readTextFile(paths.key), before);
    await runTaskOk("license:keygen", ["--data-dir", dir, "--force"]);
    assert.notEqual(await Deno.readTextFile(paths.key), before);
    assert.equal((await Deno.stat(paths.key)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue signs a license that verifies with the public key", async () => {
  const dir = await makeLicenseDir({ seats: 7, customer: "ACME Corp", expires: "2099-12-31" });
  try {
    const file = JSON.parse(await Deno.readTextFile(licensePaths(dir).json));
    assert.deepEqual(Object.keys(file), ["customer", "seats", "expiresAt", "signature"]);
    const dog = await checkLicense({ dataDir: dir });
    assert.deepEqual(dog, {
      present: true,
      valid: true,
      expired: false,
      customer: "ACME Corp",
      seats: 7,
      expiresAt: "2099-12-31",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue refuses bad arguments with a sentence and a usage exit code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_license_" });
  try {
    await runTaskOk("license:keygen", ["--data-dir", dir]);
    const cases: [string[], RegExp][] = [
      [["--customer", "A", "--seats", "0", "--expires", "2099-01-01"], /seat count/],
      [["--customer", "A", "--seats", "2x", "--expires", "2099-01-01"], /seat count/],
      [["--customer", "A", "--seats", "2", "--expires", "2099-02-30"], /real date/],
      [["--customer", "", "--seats", "2", "--expires", "2099-01-01"], /customer/],
      [["--seats", "2", "--expires", "2099-01-01"], /Missing --customer/],
    ];
    for (const [args, pattern] of cases) {
      const result = await runTask("license:issue", ["--data-dir", dir, ...args]);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, pattern);
    }
    const noKey = await Deno.makeTempDir({ prefix: "gatehouse_license_" });
    const result = await runTask("license:issue", [
      "--data-dir",
      noKey,
      "--customer",
      "A",
      "--seats",
      "1",
      "--expires",
      "2099-01-01",
    ]);
    await Deno.remove(noKey, { recursive: true });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /license\.key is missing; run deno task license:keygen first/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue refuses an expiry in the past unless --force, and leaves the file as it was", async () => {
  const dir = await makeLicenseDir({ seats: 3, customer: "Kept Co" });
  const paths = licensePaths(dir);
  const before = await Deno.readTextFile(paths.json);
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const today = new Date().toISOString().slice(0, 10);
  const args = ["--data-dir", dir, "--customer", "Late", "--seats", "2", "--expires"];
  try {
    for (const date of ["2001-01-01", yesterday]) {
      const refused = await runTask("license:issue", [...args, date]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(`^The expiry date ${date} is in the past; pass --force to issue an expired`),
      );
      assert.equal(await Deno.readTextFile(paths.json), before, "the valid file is untouched");
    }
    // Today is still valid (through the whole day, UTC).
    await runTaskOk("license:issue", [...args, today]);
    assert.equal((await checkLicense({ dataDir: dir })).expiresAt, today);
    const forced = await runTaskOk("license:issue", [...args, "2001-01-01", "--force"]);
    assert.match(forced.stderr, /Warning: the license expired after 2001-01-01 already/);
    assert.equal((await checkLicense({ dataDir: dir })).expired, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue never replaces a valid file with one that does not verify", async () => {
  const dir = await makeLicenseDir({ seats: 3, customer: "Kept Co" });
  const other = await makeLicenseDir({});
  const paths = licensePaths(dir);
  const before = await Deno.readTextFile(paths.json);
  try {
    // A public key from another pair: what the new file is signed with would not verify here.
    await Deno.copyFile(licensePaths(other).pub, paths.pub);
    const result = await runTask("license:issue", [
      "--data-dir",
      dir,
      "--customer",
      "Wrong Pair",
      "--seats",
      "9",
      "--expires",
      "2099-01-01",
    ]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /The new license does not verify with .*license\.pub \(The license signature does not match its contents\), so .*license\.json was left as it was/,
    );
    assert.equal(await Deno.readTextFile(paths.json), before);
    const leftovers = [...Deno.readDirSync(dir)].filter((entry) => entry.name.endsWith(".tmp"));
    assert.deepEqual(leftovers, [], "no temporary file is left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("a tampered, foreign-signed, malformed, expired or missing license is refused", async (t) => {
  const dir = await makeLicenseDir({ seats: 2 });
  const paths = licensePaths(dir);
  const original = await Deno.readTextFile(paths.json);
  try {
    await t.step("tampered seat count", async () => {
      const file = JSON.parse(original);
      file.seats = 200;
      await Deno.writeTextFile(paths.json, JSON.stringify(file));
      const dog = await checkLicense({ dataDir: dir });
      assert.equal(dog.valid, false);
      assert.equal(dog.seats, 0);
      assert.equal(dog.reason, "The license signature does not match its contents");
    });
    await t.step("signed with another key", async () => {
      const other = await makeLicenseDir({ seats: 2 });
      await Deno.copyFile(licensePaths(other).json, paths.json);
      await Deno.remove(other, { recursive: true });
      const dog = await checkLicense({ dataDir: dir });
      assert.equal(dog.valid, false);
      assert.match(dog.reason!, /signature does not match/);
    });
    await t.step("not JSON", async () => {
      await Deno.writeTextFile(paths.json, "{not json");
      assert.equal(
        (await checkLicense({ dataDir: dir })).reason,
        "The license file is not valid JSON",
      );
    });
    await t.step("signature missing", async () => {
      const { signature: _s, ...unsigned } = JSON.parse(original);
      await Deno.writeTextFile(paths.json, JSON.stringify(unsigned));
      assert.match((await checkLicense({ dataDir: dir })).reason!, /signature is missing/);
    });
    await t.step("expired", async () => {
      await runTaskOk("license:issue", [
        "--data-dir",
        dir,
        "--customer",
        "Old",
        "--seats",
        "2",
        "--expires",
        "2001-01-01",
        "--force",
      ]);
      const dog = await checkLicense({ dataDir: dir });
      assert.equal(dog.valid, true);
      assert.equal(dog.expired, true);
      assert.equal(dog.reason, "The license expired after 2001-01-01");
    });
    await t.step("file missing", async () => {
      await Deno.remove(paths.json);
      const dog = await checkLicense({ dataDir: dir });
      assert.equal(dog.present, false);
      assert.match(dog.reason!, /license\.json is missing/);
    });
    await t.step("public key missing", async () => {
      await Deno.writeTextFile(paths.json, original);
      await Deno.remove(paths.pub);
      const dog = await checkLicense({ dataDir: dir });
      assert.equal(dog.present, true);
      assert.match(dog.reason!, /license\.pub is missing/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a license is valid through its whole expiry day in UTC", () => {
  const day = Date.parse("2030-06-15T00:00:00Z");
  assert.equal(isExpired("2030-06-15", day + 86_400_000 - 1), false);
  assert.equal(isExpired("2030-06-15", day + 86_400_000), true);
  assert.equal(isIsoDate("2030-02-29"), false);
  assert.equal(isIsoDate("2032-02-29"), true);
  assert.equal(
    new TextDecoder().decode(canonicalTerms({ seats: 3, expiresAt: "2030-01-01", customer: "X" })),
    '{"customer":"X","seats":3,"expiresAt":"2030-01-01"}',
  );
});
