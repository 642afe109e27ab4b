import assert from "node:assert/strict";
import {
  connectionBudget,
  FALLBACK_MAX_CONNECTIONS,
  parseOpenFileLimit,
  PROBE_CAP,
  probeOpenFileLimit,
  socketCeiling,
} from "../../server/fd_budget.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
`;

Deno.test("parseOpenFileLimit reads the soft limit of /proc/self/limits", () => {
  assert.equal(parseOpenFileLimit(LIMITS), 1024);
  assert.equal(parseOpenFileLimit(LIMITS.replace("1024  ", "unlimited")), undefined);
  assert.equal(parseOpenFileLimit("nothing here"), undefined);
});

Deno.test("connectionBudget leaves 64 descriptors and 10% of the rest", () => {
  assert.equal(connectionBudget({ fdLimit: 256 }).maxConnections, 172);
  assert.equal(connectionBudget({ fdLimit: 1024 }).maxConnections, 864);
  assert.equal(connectionBudget({ fdLimit: 10 }).maxConnections, 1);
  assert.deepEqual(connectionBudget({ fdLimit: undefined }), {
    maxConnections: FALLBACK_MAX_CONNECTIONS,
    source: "fallback",
  });
  assert.ok(PROBE_CAP >= 1024, "the usual soft limit is learned exactly");
});

Deno.test("socketCeiling: polite refusals up to the fd limit less 64, never below the limit", () => {
  assert.equal(socketCeiling({ maxConnections: 172, fdLimit: 256 }), 192);
  assert.equal(socketCeiling({ maxConnections: 5000, fdLimit: 256 }), 5001);
  assert.equal(socketCeiling({ maxConnections: 100 }), 264);
});

Deno.test("probeOpenFileLimit finds this process's limit and closes what it opened", () => {
  const probed = probeOpenFileLimit();
  assert.ok(probed !== undefined && probed > 64, `probed ${probed}`);
  // It closed them all: another file opens fine.
  Deno.openSync("/dev/null").close();
});
