/**
 * The license server's connection cap (issue 18): `--max-connections`, checked by the flag
 * parser, logged at start, and enforced with a polite refusal; by default the fd budget.
 */

import assert from "node:assert/strict";
import { MAX_CONNECTIONS_LIMIT, parseLicenseFlags } from "../../server/license/main.ts";
import { State } from "../../shared/state_codes.ts";
import { makeLicenseDir, RawConn, startLicenseServer } from "./license_fixtures.ts";

Deno.test("--max-connections takes a whole number from 1 up, and is absent by default", () => {
  assert.equal(parseLicenseFlags([]).maxConnections, undefined);
  assert.equal(parseLicenseFlags(["--max-connections", "12000"]).maxConnections, 12_000);
  for (const bad of ["0", "-1", "1.5", "many", "", String(MAX_CONNECTIONS_LIMIT + 1)]) {
    assert.throws(
      () => parseLicenseFlags([`--max-connections=${bad}`]),
      new TypeError(
        `Flag --max-connections must be a whole number from 1 to ${MAX_CONNECTIONS_LIMIT}`,
      ),
      bad,
    );
  }
});

Deno.test({
  name: "the license server logs its cap and refuses a connection past it with SERVER_BUSY",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 5 });
    const server = await startLicenseServer({ dataDir, args: ["--max-connections", "2"] });
    const conns: RawConn[] = [];
    try {
      assert.ok(
        server.lines.some((line) => / max connections max=2 source=flag/.test(line)),
        server.lines.join("\n"),
      );
      for (let i = 0; i < 2; i++) conns.push(await RawConn.open(server.port));
      for (const conn of conns) {
        const rsp = await conn.request("LoginReq", {
          instanceId: `cap-${conns.indexOf(conn)}`,
          host: "h",
          user: "u",
        });
        assert.equal(rsp.json.state, State.OK);
      }
      const third = await RawConn.open(server.port);
      conns.push(third);
      const refused = await third.next((f) => f.name === "Error");
      assert.equal(refused.json.code, State.SERVER_BUSY);
      assert.equal(refused.json.msg, "The server is at its limit of 2 connections");
      assert.equal(await third.closedWithin(3000), true, "the refused connection is closed");
      // The two connected clients are unaffected.
      const beat = await conns[0].request("HeartbeatReq", {});
      assert.equal(beat.json.state, State.OK);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "without the flag the cap comes from the fd budget and is logged with its source",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1 });
    const server = await startLicenseServer({ dataDir });
    try {
      const line = server.lines.find((l) => / max connections /.test(l)) ?? "";
      const match = / max=(\d+) source=(\S+)/.exec(line);
      assert.ok(match, line);
      assert.ok(Number(match[1]) >= 1);
      // The task's permissions cannot read /proc/self/limits: the budget comes from the probe.
      assert.match(match[2], /^"?(probe|probe capped|fallback|proc)"?$/);
    } finally {
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
