import assert from "node:assert/strict";
import { formatLogLine, parseLogFlags } from "../../server/log.ts";
import { ROOT_DIR, startProcess, taskArgs } from "../helpers/process.ts";
import { INTEGRATION, startGate } from "../helpers/suite.ts";

Deno.test("log: a text line is time, level, process, event and key=value fields", () => {
  const line = formatLogLine({
    level: "warn",
    name: "gate",
    event: "origin-refused",
    fields: { origin: "http://evil.example", remote: "10.0.0.1:5000", note: "two words" },
  });
  assert.match(
    line,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN gate origin-refused origin=http:\/\/evil\.example remote=10\.0\.0\.1:5000 note="two words"$/,
  );
});

Deno.test("log: a JSON line parses, keeps its fields' types, and errors as their message", () => {
  const line = formatLogLine({
    level: "error",
    name: "login",
    event: "commit-failed",
    fields: {
      batch: 12,
      ok: false,
      error: new Error("disk full"),
      event: "shadowed",
      gone: undefined,
    },
    format: "json",
  });
  const parsed = JSON.parse(line);
  assert.match(parsed.time, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  assert.deepEqual({ ...parsed, time: "" }, {
    time: "",
    level: "error",
    process: "login",
    event: "commit-failed",
    batch: 12,
    ok: false,
    error: "disk full",
    field_event: "shadowed",
  });
  assert.equal(line.includes("\n"), false, "one line");
});

Deno.test("log: parseLogFlags takes the log flags out and leaves the rest in order", () => {
  assert.deepEqual(
    parseLogFlags(["--port", "0", "--log-format", "json", "--log-level=warn", "--help"]),
    { options: { format: "json", level: "warn" }, rest: ["--port", "0", "--help"] },
  );
  assert.deepEqual(parseLogFlags([]), { options: {}, rest: [] });
  assert.throws(() => parseLogFlags(["--log-format", "xml"]), {
    name: "TypeError",
    message: "Flag --log-format must be one of text, json",
  });
  assert.throws(() => parseLogFlags(["--log-level"]), {
    message: "Flag --log-level must be one of debug, info, warn, error",
  });
});

Deno.test({
  name: "log: a service started with --log-format json writes only JSON lines",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    try {
      const echo = await startProcess({
        task: "echo",
        args: [
          "--gate",
          gate.wsUrl,
          "--data-dir",
          gate.dataDir,
          "--name",
          "json-echo",
          "--log-format",
          "json",
        ],
        ready: /"event":"registered"/,
      });
      assert.equal(await echo.stop(), 0);
      const events = echo.lines.filter((line) => line.trim() !== "").map((line) =>
        JSON.parse(line)
      );
      assert.ok(events.length >= 2, JSON.stringify(events));
      for (const event of events) {
        assert.equal(event.process, "json-echo");
        assert.ok(["debug", "info", "warn", "error"].includes(event.level));
        assert.equal(typeof event.time, "string");
      }
      const registered = events.find((event) => event.event === "registered");
      assert.equal(registered.gate, gate.wsUrl);
    } finally {
      await gate.stop();
    }
  },
});

Deno.test("log: the services print their version with --version", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(`${ROOT_DIR}/deno.json`));
  for (const task of ["echo", "login", "group"]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...taskArgs(task), "--version"],
      cwd: ROOT_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.equal(new TextDecoder().decode(output.stdout).trim(), `gatehouse ${version}`, task);
  }
});
