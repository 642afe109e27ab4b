import assert from "node:assert/strict";
import { explainStartFailure, parseSsListening } from "../../server/supervisor/start_failure.ts";

const IN_USE = 'ERROR gate start failed error="Address already in use (os error 98)"';

Deno.test("start failure: ss output gives the listening ports and their holders", () => {
  const ports = parseSsListening([
    'LISTEN 0      511    127.0.0.1:8080  0.0.0.0:* users:(("deno",pid=1234,fd=21))',
    "LISTEN 0      128      0.0.0.0:2024  0.0.0.0:*",
    "LISTEN 0      4096        [::]:8090     [::]:*",
    "ESTAB  0      0      127.0.0.1:5000  127.0.0.1:8080",
    "",
  ].join("\n"));
  assert.deepEqual(
    [...ports],
    [[8080, "deno pid 1234"], [2024, undefined], [8090, undefined]],
  );
});

Deno.test("start failure: the port in use is named, with its holder", async () => {
  const reason = await explainStartFailure({
    name: "gate",
    how: "code 1",
    lines: [{ text: "INFO gate starting pid=1" }, { text: IN_USE }],
    listens: [{ host: "127.0.0.1", port: 8080 }, { host: "127.0.0.1", port: 8081 }],
    listening: new Map([[8081, "deno pid 77"]]),
  });
  assert.equal(reason, "gate cannot listen on 127.0.0.1:8081: address in use (by deno pid 77)");
});

Deno.test("start failure: when no port is seen taken, every port given is named", async () => {
  const reason = await explainStartFailure({
    name: "gate",
    how: "code 1",
    lines: [{ text: IN_USE }],
    listens: [{ host: "::1", port: 8080 }, { host: "::1", port: 8081 }, { host: "::1", port: 0 }],
    listening: new Map(),
  });
  assert.equal(reason, "gate cannot listen on [::1]:8080 or [::1]:8081: address in use");
});

Deno.test("start failure: otherwise the last stderr line, else the last ERROR line", async () => {
  const lines = [
    { text: '2026-11-30T10:00:00.000Z ERROR login start failed error="database is locked"' },
    { text: "2026-11-30T10:00:00.001Z INFO login stopping" },
  ];
  assert.equal(
    await explainStartFailure({ name: "login", how: "code 1", lines }),
    "login exited with code 1; its last words: " +
      '2026-11-30T10:00:00.000Z ERROR login start failed error="database is locked"',
  );
  assert.equal(
    await explainStartFailure({
      name: "login",
      how: "code 1",
      lines: [...lines, { text: "error: Uncaught (in promise) boom", stderr: true }],
    }),
    "login exited with code 1; its last words: error: Uncaught (in promise) boom",
  );
  assert.equal(
    await explainStartFailure({ name: "group", how: "signal SIGKILL", lines: [] }),
    "group exited with signal SIGKILL and wrote nothing",
  );
});
