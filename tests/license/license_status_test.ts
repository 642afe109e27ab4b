/**
 * `deno task license:status` against the running server, and a renumbered message-type table
 * given with `--types`.
 */

import assert from "node:assert/strict";
import { MessageTypes } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import { formatUptime } from "../../server/license/status.ts";
import { licensePaths } from "../../server/license/license_file.ts";
import { ROOT_DIR, startProcess } from "../helpers/process.ts";
import { makeLicenseDir, RawConn, runTask, startLicenseServer } from "./license_fixtures.ts";

Deno.test({
  name: "license:status prints the seats held, who holds them, and who waits",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1, customer: "ACME Corp" });
    const server = await startLicenseServer({ dataDir });
    const conns = await Promise.all([1, 2].map(() => RawConn.open(server.port)));
    try {
      const [a, b] = conns;
      await a.request("LoginReq", { instanceId: "cad-1", host: "lab-pc-7", user: "grace" });
      await b.send("LoginReq", { instanceId: "cad-2", host: "lab-pc-8", user: "alan", wait: true });
      await b.next((f) => f.name === "Envelope");
      const port = String(server.port);
      const text = await runTask("license:status", ["--port", port, "--audit", "5"]);
      assert.equal(text.code, 0, text.stderr);
      const version = JSON.parse(await Deno.readTextFile(`${ROOT_DIR}/deno.json`)).version;
      assert.match(
        text.stdout,
        new RegExp(
          `^License server status: tcp://127\\.0\\.0\\.1:${port} \\(version ${
            version.replaceAll(".", "\\.")
          }, up \\d+s\\)`,
        ),
      );
      assert.match(text.stdout, /License: ACME Corp, 1 seats, valid through 2099-12-31/);
      assert.match(text.stdout, /Seats: 1 of 1 in use, 0 free, 1 waiting \(heartbeat 200 ms/);
      assert.match(text.stdout, /INSTANCE\s+HOST\s+USER\s+REMOTE\s+SINCE\s+LAST HEARTBEAT/);
      assert.match(text.stdout, /cad-1\s+lab-pc-7\s+grace\s+127\.0\.0\.1:\d+\s+\d{4}-\d\d-\d\dT/);
      assert.match(text.stdout, /Waiting:\n.*\n\s+cad-2\s+lab-pc-8\s+alan/);
      assert.match(text.stdout, /grant\s+cad-1\s+lab-pc-7\s+grace\s+login/);

      const json = await runTask("license:status", ["--port", port, "--json"]);
      const status = JSON.parse(json.stdout);
      assert.equal(status.seatsUsed, 1);
      assert.equal(status.version, version);
      assert.ok(Number.isInteger(status.uptimeS) && status.uptimeS >= 0, `${status.uptimeS}`);
      assert.deepEqual(status.holders.map((h: { user: string }) => h.user), ["grace"]);
      assert.deepEqual(status.audit, []);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      assert.equal(await server.stop(), 0);
    }
    // With the server gone, it says so and reports the local license file.
    const down = await runTask("license:status", [
      "--port",
      String(server.port),
      "--data-dir",
      dataDir,
      "--timeout-ms",
      "1000",
    ]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /did not answer/);
    assert.match(down.stderr, /grants 1 seats to ACME Corp through 2099-12-31/);
    const bad = await runTask("license:status", ["--port", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Flag --port must be a whole number/);
    await Deno.remove(dataDir, { recursive: true });
  },
});

Deno.test({
  name: "license:status with no license loaded says so, not 0 seats of 0",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1 });
    await Deno.remove(licensePaths(dataDir).json);
    const server = await startLicenseServer({ dataDir });
    try {
      const text = await runTask("license:status", ["--port", String(server.port)]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /License: not usable: The license file .*license\.json is missing/);
      assert.match(
        text.stdout,
        /Seats: none can be granted, no license loaded, 0 waiting \(heartbeat 200 ms, 1 connections\)/,
      );
      assert.doesNotMatch(text.stdout, /of 0 in use/);
    } finally {
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("every license task prints the version with --version", async () => {
  const version = JSON.parse(await Deno.readTextFile(`${ROOT_DIR}/deno.json`)).version;
  for (const task of ["license", "license:keygen", "license:issue", "license:status"]) {
    const result = await runTask(task, ["--version"]);
    assert.equal(result.code, 0, `${task}: ${result.stderr}`);
    assert.match(result.stdout.trim(), new RegExp(`^gatehouse (license )?${version}$`), task);
  }
});

Deno.test({
  name: "the license server writes JSON log lines with --log-format json, warnings on stderr",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1, customer: "Json Co" });
    const proc = await startProcess({
      task: "license",
      args: ["--port", "0", "--data-dir", dataDir, "--log-format", "json", "--log-level", "debug"],
      ready: /"event":"listening".*"tcp":"tcp:\/\/127\.0\.0\.1:(\d+)"/,
    });
    try {
      const conn = await RawConn.open(Number(proc.match[1]));
      assert.equal(
        (await conn.request("LoginReq", { instanceId: "j", host: "h", user: "u" }))
          .json.state,
        State.OK,
      );
      await conn.close();
      await Deno.writeTextFile(licensePaths(dataDir).json, "broken");
      const from = proc.lines.length;
      proc.kill("SIGHUP");
      await proc.waitForLine(/"event":"reloaded"/, { from });
    } finally {
      assert.equal(await proc.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
    const lines = proc.lines.filter((line) => line.trim() !== "");
    const events = lines.map((line) => JSON.parse(line));
    for (const event of events) {
      assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(["debug", "info", "warn", "error"].includes(event.level), event.level);
      assert.equal(event.process, "license");
      assert.equal(typeof event.event, "string");
    }
    const names = events.map((event) => event.event);
    for (const name of ["license loaded", "listening", "license reload refused", "stopped"]) {
      assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
    }
    const refused = events.find((event) => event.event === "license reload refused");
    assert.equal(refused.level, "warn");
    assert.equal(refused.reason, "The license file is not valid JSON");
    assert.equal(refused.kept, "Json Co");
    assert.equal(refused.seats, 1);
    const bad = await runTask("license", ["--log-level", "loud"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^Flag --log-level must be one of debug, info, warn, error/);
  },
});

Deno.test("license:status writes the uptime in the largest two units", () => {
  assert.equal(formatUptime(0), "0s");
  assert.equal(formatUptime(59), "59s");
  assert.equal(formatUptime(250), "4m 10s");
  assert.equal(formatUptime(2 * 3600 + 5 * 60 + 9), "2h 5m");
  assert.equal(formatUptime(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
});

Deno.test({
  name: "a renumbered message-type table: same table works, the default table gets Error",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1 });
    const renumbered = { LoginReq: 31, LoginRsp: 32, Envelope: 300, Error: 254 };
    const typesFile = `${dataDir}/types.json`;
    await Deno.writeTextFile(typesFile, JSON.stringify(renumbered));
    const server = await startLicenseServer({ dataDir, args: ["--types", typesFile] });
    const types = new MessageTypes(renumbered);
    const same = await RawConn.open(server.port, { types });
    const old = await RawConn.open(server.port);
    try {
      const ok = await same.request("LoginReq", { instanceId: "t-1", host: "h", user: "u" });
      assert.equal(ok.name, "LoginRsp");
      assert.equal(ok.type, 32);
      assert.equal(ok.json.state, State.OK);
      const error = await old.request("LoginReq", { instanceId: "t-2", host: "h", user: "u" });
      assert.equal(error.type, 254);
      assert.equal(error.json.msg, "Unknown message type 3");
      const status = await runTask("license:status", [
        "--port",
        String(server.port),
        "--types",
        typesFile,
        "--json",
      ]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).seatsUsed, 1);
    } finally {
      await same.close();
      await old.close();
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("the license server refuses bad flags and a bad --types file", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_license_" });
  try {
    const badPort = await runTask("license", ["--port", "70000", "--data-dir", dataDir]);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /Flag --port must be a whole number from 0 to 65535/);
    const badHeartbeat = await runTask("license", ["--heartbeat-ms", "0", "--data-dir", dataDir]);
    assert.equal(badHeartbeat.code, 2);
    assert.match(badHeartbeat.stderr, /Flag --heartbeat-ms must be/);
    await Deno.writeTextFile(`${dataDir}/types.json`, '{"LoginReq": 2}');
    const clash = await runTask("license", [
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--types",
      `${dataDir}/types.json`,
    ]);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /ERROR license types failed .*share the number 2/);
    const help = await runTask("license", ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--heartbeat-ms MS/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
