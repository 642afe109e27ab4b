/**
 * Seats are what a customer pays for (issue 18): 2,000 license clients heartbeating every second
 * keep every seat while 200 others log in and out as fast as they can for 20 s. The clients are
 * raw framed-TCP connections in one load-generator process (bench/load/license_load.ts
 * `--mode hold`), against the real server process. Not timed: it asserts what was kept, not how
 * fast.
 */

import assert from "node:assert/strict";
import { queryStatus } from "../../server/license/status.ts";
import { startProcess } from "../helpers/process.ts";
import { makeLicenseDir } from "./license_fixtures.ts";

const HOLDERS = 2000;
const CHURNERS = 200;
const HEARTBEAT_MS = 1000;
/** Open files for each process: the clients, plus room for the runtime and the database. */
const OPEN_FILES = 8192;

/** The hard open-file limit of this process, when it can be read. */
function hardOpenFileLimit(): number | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const match = /^Max open files\s+\S+\s+(\S+)/m.exec(text);
    if (!match) return undefined;
    return match[1] === "unlimited" ? Infinity : Number(match[1]);
  } catch {
    return undefined;
  }
}

const hardLimit = hardOpenFileLimit();

Deno.test({
  name: "2,000 clients heartbeating at 1 s keep every seat while 200 others churn for 20 s",
  ignore: Deno.build.os !== "linux" || hardLimit === undefined || hardLimit < OPEN_FILES,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: HOLDERS + CHURNERS + 10 });
    const server = await startProcess({
      task: "license",
      args: [
        "--port",
        "0",
        "--data-dir",
        dataDir,
        "--heartbeat-ms",
        String(HEARTBEAT_MS),
        "--max-connections",
        String(HOLDERS + CHURNERS + 100),
      ],
      ready: /license listening tcp=tcp:\/\/(\S+):(\d+)/,
      openFileLimit: OPEN_FILES,
    });
    const port = Number(server.match[2]);
    try {
      const load = await startProcess({
        task: "license_load",
        denoArgs: ["run", "--allow-net", "bench/load/license_load.ts"],
        args: [
          "--port",
          String(port),
          "--mode",
          "hold",
          "--holders",
          String(HOLDERS),
          "--churners",
          String(CHURNERS),
          "--heartbeat-ms",
          String(HEARTBEAT_MS),
          "--warmup",
          "1",
          "--duration",
          "19",
        ],
        ready: /^PHASE connected/,
        openFileLimit: OPEN_FILES,
        timeoutMs: 60_000,
      });
      // Every holder holds its seat once the churn is going on.
      await load.waitForLine(/^PHASE measure/, { timeoutMs: 30_000 });
      const status = await queryStatus({ host: "127.0.0.1", port });
      const holding = status.holders.filter((seat) => seat.instanceId.startsWith("hold-"));
      assert.equal(holding.length, HOLDERS, "every holder holds a seat during the churn");

      const [, json] = await load.waitForLine(/^RESULT (.*)$/, { timeoutMs: 60_000 });
      assert.equal((await load.status).code, 0);
      const result = JSON.parse(json) as {
        held: number;
        dropped: number;
        churnersDropped: number;
        firstDrop?: string;
        completed: number;
        errors: number;
        firstError?: string;
      };
      assert.equal(result.held, HOLDERS, "every holder got a seat");
      assert.equal(result.dropped, 0, `no holder was dropped (first: ${result.firstDrop})`);
      assert.equal(
        result.churnersDropped,
        0,
        `no churner was dropped either (first: ${result.firstDrop})`,
      );
      assert.equal(result.errors, 0, `no request failed (first: ${result.firstError})`);
      assert.ok(result.completed > 0, "the churners logged in and out");
      const timeouts = server.lines.filter((line) => / heartbeat-timeout /.test(line));
      assert.deepEqual(timeouts, [], "the server dropped nobody for silence");
    } finally {
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
