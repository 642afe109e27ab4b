import assert from "node:assert/strict";
import { ServiceError } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import { eventLog } from "../helpers/event_log.ts";
import { WriterClosedError } from "../../server/login/commit_batches.ts";
import { DATABASE_UNREACHABLE, StoreFailures } from "../../server/login/store_failures.ts";

function setup() {
  const { log, lines } = eventLog();
  return { lines, failures: new StoreFailures({ log }) };
}

/** An error caused by a refused connection: the store cannot reach its database. */
function refused(): Error {
  return new Error("connect failed", { cause: new Deno.errors.ConnectionRefused("refused") });
}

Deno.test("store failures: an unreachable database is SERVER_BUSY, warned once per burst, and its return logged", async () => {
  const { lines, failures } = setup();
  for (let i = 0; i < 3; i++) {
    await assert.rejects(failures.reach(Promise.reject(refused())), (error: unknown) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.state, State.SERVER_BUSY);
      assert.equal(error.message, DATABASE_UNREACHABLE);
      return true;
    });
  }
  assert.deepEqual(lines, ["accounts database unreachable"]);
  assert.equal(await failures.reach(Promise.resolve(42)), 42);
  assert.deepEqual(lines, ["accounts database unreachable", "accounts database reachable again"]);
  assert.equal(await failures.reach(Promise.resolve(43)), 43);
  assert.equal(lines.length, 2);
});

Deno.test("store failures: a failed write is SERVER_OFF while stopping, FAIL otherwise; answers pass through", async () => {
  const { lines, failures } = setup();
  const stopping = failures.storageFailed("cs_msg_register", new WriterClosedError());
  assert.equal(stopping.state, State.SERVER_OFF);
  const broken = failures.storageFailed("cs_msg_register", new Error("disk I/O error"));
  assert.equal(broken.state, State.FAIL);
  assert.match(broken.message, /could not save the change/);
  assert.deepEqual(lines, ["database write failed"]);
  const busy = failures.storageFailed("cs_msg_login", refused());
  assert.equal(busy.state, State.SERVER_BUSY);
  // An answer the service already chose is not turned into another one.
  const answer = new ServiceError(State.FAIL, "The username or password is wrong");
  await assert.rejects(failures.reach(Promise.reject(answer)), (error) => error === answer);
});
