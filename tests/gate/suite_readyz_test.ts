import assert from "node:assert/strict";
import { startProcess, tempDataDir } from "../helpers/process.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";

Deno.test({
  name: "suite: the supervisor's gate is ready once login and group link; every line is JSON",
  ...INTEGRATION,
  async fn() {
    const dataDir = await tempDataDir();
    const suite = await startProcess({
      task: "supervisor",
      args: [
        "--data-dir",
        dataDir,
        "--port",
        "0",
        "--tcp-port",
        "0",
        "--license-port",
        "0",
        "--log-format",
        "json",
      ],
      ready: /"process":"supervisor","event":"ready","web":"([^"]+)\/"/,
    });
    const httpUrl = suite.match[1];
    try {
      // The supervisor asked the gate to wait for the two services it runs behind it.
      let body: Record<string, unknown> = {};
      await waitFor(async () => {
        const response = await fetch(`${httpUrl}/readyz`);
        body = await response.json();
        return response.status === 200;
      }, { what: "/readyz to answer 200", timeoutMs: 30_000 });
      assert.deepEqual(body, { status: "ready" });
      // The gate's log line travels through the supervisor's output: it may come a moment later.
      await waitFor(
        () =>
          suite.lines.some((line) =>
            /"process":"gate","event":"service registered".*"type":"login"/.test(line)
          ),
        { what: "the gate's JSON line for login's registration", timeoutMs: 10_000 },
      );
    } finally {
      assert.equal(await suite.stop(), 0);
    }
    const processes = new Set<string>();
    for (const line of suite.lines.filter((l) => l.trim() !== "")) {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        throw new Error(`Not a JSON line: ${line}`);
      }
      assert.ok(["debug", "info", "warn", "error"].includes(event.level), line);
      processes.add(String(event.process).replace(/-\d+$/, ""));
    }
    for (const name of ["supervisor", "gate", "login", "group", "license"]) {
      assert.ok(processes.has(name), `no JSON line of ${name}: ${[...processes]}`);
    }
  },
});
