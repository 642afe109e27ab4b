/**
 * The license server and its license file ("the dog"): no seats without a valid, unexpired,
 * signed file, the reason said in the refusal, and a reload on SIGHUP.
 */

import assert from "node:assert/strict";
import { licensePaths } from "../../server/license/license_file.ts";
import { State } from "../../shared/state_codes.ts";
import {
  makeLicenseDir,
  RawConn,
  runTaskOk,
  startLicenseServer,
  waitUntil,
} from "./license_fixtures.ts";

let instances = 0;

function loginBody(): Record<string, unknown> {
  return { instanceId: `dog-${++instances}`, host: "lab-pc", user: "ada" };
}

async function issue(
  dataDir: string,
  options: { seats: number; expires: string; customer?: string },
) {
  await runTaskOk("license:issue", [
    "--data-dir",
    dataDir,
    "--customer",
    options.customer ?? "Reissued",
    "--seats",
    String(options.seats),
    "--expires",
    options.expires,
    "--force", // the expired cases need it; a future date does not mind it
  ]);
}

const cases: {
  name: string;
  spoil: (dataDir: string) => Promise<void>;
  msg: RegExp;
  present: boolean;
  valid: boolean;
  expired: boolean;
}[] = [
  {
    name: "a tampered",
    spoil: async (dir) => {
      const path = licensePaths(dir).json;
      const file = JSON.parse(await Deno.readTextFile(path));
      file.seats = 1000;
      await Deno.writeTextFile(path, JSON.stringify(file));
    },
    msg: /^No seats can be granted because the license signature does not match its contents$/,
    present: true,
    valid: false,
    expired: false,
  },
  {
    name: "an invalid",
    spoil: (dir) => Deno.writeTextFile(licensePaths(dir).json, "not a license"),
    msg: /^No seats can be granted because the license file is not valid JSON$/,
    present: true,
    valid: false,
    expired: false,
  },
  {
    name: "an expired",
    spoil: (dir) => issue(dir, { seats: 2, expires: "2001-01-01" }),
    msg: /^No seats can be granted because the license expired after 2001-01-01$/,
    present: true,
    valid: true,
    expired: true,
  },
  {
    name: "a missing",
    spoil: (dir) => Deno.remove(licensePaths(dir).json),
    msg: /^No seats can be granted because the license file .*license\.json is missing$/,
    present: false,
    valid: false,
    expired: false,
  },
];

for (const c of cases) {
  Deno.test({
    name: `${c.name} license file grants no seats and the server says why`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dataDir = await makeLicenseDir({ seats: 2 });
      await c.spoil(dataDir);
      const server = await startLicenseServer({ dataDir });
      const conn = await RawConn.open(server.port);
      try {
        assert.ok(server.lines.some((l) => /license unusable reason=/.test(l)));
        const login = await conn.request("LoginReq", loginBody());
        assert.equal(login.json.state, State.FAIL);
        assert.match(String(login.json.msg), c.msg);
        assert.equal(login.json.seats, 0);
        const dog = await conn.request("GetDogStatusReq", {});
        assert.equal(dog.json.state, State.FAIL);
        assert.equal(dog.json.present, c.present);
        assert.equal(dog.json.valid, c.valid);
        assert.equal(dog.json.expired, c.expired);
        assert.equal(typeof dog.json.msg, "string");
      } finally {
        await conn.close();
        assert.equal(await server.stop(), 0);
        await Deno.remove(dataDir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "SIGHUP reloads the license file: a valid one grants, a lower count stops new grants",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 2 });
    await Deno.writeTextFile(licensePaths(dataDir).json, "{}");
    const server = await startLicenseServer({ dataDir });
    const conns = await Promise.all([1, 2, 3].map(() => RawConn.open(server.port)));
    const [a, b, c] = conns;
    try {
      assert.equal((await a.request("LoginReq", loginBody())).json.state, State.FAIL);
      await issue(dataDir, { seats: 2, expires: "2099-12-31" });
      let from = server.lines.length;
      server.proc.kill("SIGHUP");
      await server.proc.waitForLine(/reloaded seats=2 valid=true/, { from });
      assert.equal((await a.request("LoginReq", loginBody())).json.state, State.OK);
      assert.equal((await b.request("LoginReq", loginBody())).json.state, State.OK);
      // Down to one seat: the two holders keep theirs, nobody new gets one until both leave.
      await issue(dataDir, { seats: 1, expires: "2099-12-31" });
      from = server.lines.length;
      server.proc.kill("SIGHUP");
      await server.proc.waitForLine(/reloaded seats=1/, { from });
      const status = await server.status();
      assert.equal(status.seats, 1);
      assert.equal(status.seatsUsed, 2);
      const third = await c.request("LoginReq", loginBody());
      assert.equal(third.json.msg, "All 1 seats are in use");
      await a.request("LogoutReq", {});
      assert.equal((await c.request("LoginReq", loginBody())).json.state, State.FAIL);
      await b.request("LogoutReq", {});
      await waitUntil(async () => (await server.status()).seatsUsed === 0);
      assert.equal((await c.request("LoginReq", loginBody())).json.state, State.OK);
    } finally {
      await Promise.all(conns.map((conn) => conn.close()));
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

/** What a SIGHUP must not load over a good license: each way a file can be bad. */
const badReloads: { name: string; spoil: (dataDir: string) => Promise<void>; reason: RegExp }[] = [
  {
    name: "tampered",
    spoil: async (dir) => {
      const path = licensePaths(dir).json;
      const file = JSON.parse(await Deno.readTextFile(path));
      file.seats = 1000;
      await Deno.writeTextFile(path, JSON.stringify(file));
    },
    reason: /signature does not match/,
  },
  {
    name: "broken",
    spoil: (dir) => Deno.writeTextFile(licensePaths(dir).json, '{"customer": "half a fi'),
    reason: /not valid JSON/,
  },
  {
    name: "expired",
    spoil: (dir) => issue(dir, { seats: 5, expires: "2001-01-01", customer: "Lapsed" }),
    reason: /expired after 2001-01-01/,
  },
  {
    name: "missing",
    spoil: (dir) => Deno.remove(licensePaths(dir).json),
    reason: /license\.json is missing/,
  },
];

Deno.test({
  name: "SIGHUP with a broken, tampered, expired or missing file keeps the last good license",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dataDir = await makeLicenseDir({ seats: 2, customer: "Good Co" });
    const good = await Deno.readTextFile(licensePaths(dataDir).json);
    const server = await startLicenseServer({ dataDir });
    const conns = await Promise.all([1, 2, 3].map(() => RawConn.open(server.port)));
    const [a, b, c] = conns;
    try {
      assert.equal((await a.request("LoginReq", loginBody())).json.state, State.OK);
      assert.equal((await b.request("LoginReq", loginBody())).json.state, State.OK);
      for (const bad of badReloads) {
        await t.step(bad.name, async () => {
          await bad.spoil(dataDir);
          const from = server.lines.length;
          server.proc.kill("SIGHUP");
          const refused = await server.proc.waitForLine(/license reload refused .*/, { from });
          assert.match(refused[0], bad.reason);
          assert.match(refused[0], /kept="Good Co" seats=2 expiresAt=2099-12-31/);
          await server.proc.waitForLine(/reloaded seats=2 valid=true expired=false/, { from });
          const status = await server.status();
          assert.equal(status.seats, 2);
          assert.equal(status.seatsUsed, 2, "both holders keep their seats");
          assert.equal(status.dog.customer, "Good Co");
          const dog = await c.request("GetDogStatusReq", {});
          assert.equal(dog.json.state, State.OK);
          assert.equal(dog.json.seats, 2);
          // The kept license still grants: a seat given back is granted again.
          await a.request("LogoutReq", {});
          assert.equal((await c.request("LoginReq", loginBody())).json.state, State.OK);
          await c.request("LogoutReq", {});
          assert.equal((await a.request("LoginReq", loginBody())).json.state, State.OK);
        });
      }
      await t.step("a good file after the bad ones is loaded", async () => {
        await issue(dataDir, { seats: 3, expires: "2099-12-31" });
        const from = server.lines.length;
        server.proc.kill("SIGHUP");
        await server.proc.waitForLine(/reloaded seats=3 valid=true/, { from });
        assert.equal((await server.status()).dog.customer, "Reissued");
        assert.equal((await c.request("LoginReq", loginBody())).json.state, State.OK);
        assert.notEqual(await Deno.readTextFile(licensePaths(dataDir).json), good);
      });
    } finally {
      await Promise.all(conns.map((conn) => conn.close()));
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
