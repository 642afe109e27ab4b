import assert from "node:assert/strict";
import { formatLogLine, parseLogFlags } from "../../server/log.ts";

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
