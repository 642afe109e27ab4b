import assert from "node:assert/strict";
import {
  type Envelope,
  isPush,
  isRequest,
  isResponse,
  makePush,
  makeRequest,
  makeResponse,
  nestsDeeperThan,
  parseEnvelope,
  validateEnvelope,
} from "../../shared/envelope.ts";
import { State } from "../../shared/state_codes.ts";
import vectors from "../../shared/testdata/envelopes.json" with { type: "json" };

interface GoodVector {
  name: string;
  text: string;
  kind: "request" | "response" | "push";
  envelope: Record<string, unknown>;
}

interface BadVector {
  name: string;
  text: string;
  error: string;
  msgId?: number;
  cmd?: string;
}

const GOOD = vectors.good as GoodVector[];
const BAD = vectors.bad as BadVector[];
// Every loop below runs once per vector: an emptied list must fail, not pass with no steps.
assert.ok(GOOD.length > 0, "shared/testdata/envelopes.json lists good vectors");
assert.ok(BAD.length > 0, "shared/testdata/envelopes.json lists bad vectors");

function kindOf(envelope: Envelope): string[] {
  const kinds = [];
  if (isRequest(envelope)) kinds.push("request");
  if (isResponse(envelope)) kinds.push("response");
  if (isPush(envelope)) kinds.push("push");
  return kinds;
}

/** Checks `fn` returned a time between `before` and now. */
function assertTime(time: number | undefined, before: number): void {
  assert.equal(typeof time, "number");
  assert.ok(time! >= before && time! <= Date.now(), `time ${time}`);
}

Deno.test("parseEnvelope accepts each good envelope vector", async (t) => {
  for (const vector of GOOD) {
    await t.step(vector.name, () => {
      const result = parseEnvelope(vector.text);
      assert.ok(result.ok, result.ok ? "" : result.error);
      assert.deepEqual(result.envelope, vector.envelope);
      assert.deepEqual(kindOf(result.envelope), [vector.kind]);
    });
  }
});

Deno.test("parseEnvelope refuses each bad envelope vector with its sentence", async (t) => {
  for (const vector of BAD) {
    await t.step(vector.name, () => {
      const result = parseEnvelope(vector.text);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.error, vector.error);
      assert.equal(result.msgId, vector.msgId, "msgId recovered");
      assert.equal(result.cmd, vector.cmd, "cmd recovered");
    });
  }
});

Deno.test("envelope errors are each one sentence", () => {
  const errors = new Set(BAD.map((vector) => vector.error));
  // Every sentence validateEnvelope and parseEnvelope can return has a vector.
  assert.equal(errors.size, 11);
  for (const error of errors) {
    assert.match(error, /^[A-Z]/, error);
    assert.doesNotMatch(error, /[.!?]$|\n|\. [A-Z]/, error);
    assert.ok(error.length < 80, error);
  }
});

Deno.test("envelope vector names are unique", () => {
  const names = [...GOOD, ...BAD].map((vector) => vector.name);
  assert.equal(new Set(names).size, names.length);
});

Deno.test("validateEnvelope refuses values that are not objects", () => {
  for (const value of [undefined, null, 0, "x", true, [], [{ cmd: "echo" }]]) {
    assert.deepEqual(validateEnvelope(value), {
      ok: false,
      error: "The envelope must be a JSON object",
    });
  }
});

Deno.test("validateEnvelope fills in data and msg on the value it was given", () => {
  const value: Record<string, unknown> = { cmd: "echo", is_resp: true, msgId: 1, state: 0 };
  const result = validateEnvelope(value);
  assert.ok(result.ok);
  assert.equal(result.envelope, value);
  assert.deepEqual(value, { cmd: "echo", is_resp: true, msgId: 1, state: 0, msg: "", data: {} });
});

Deno.test("validateEnvelope accepts every state code in a response", () => {
  for (const state of Object.values(State)) {
    const result = validateEnvelope({ cmd: "echo", is_resp: true, msgId: 1, state });
    assert.ok(result.ok, `state ${state}`);
    assert.equal("msg" in result.envelope, state !== State.OK, `state ${state}`);
  }
});

Deno.test("makeRequest builds a valid request", () => {
  const before = Date.now();
  const request = makeRequest("echo", { msgId: 7, data: { text: "hi" } });
  const { time, ...rest } = request;
  assertTime(time, before);
  assert.deepEqual(rest, { cmd: "echo", is_req: true, msgId: 7, data: { text: "hi" } });
  assert.deepEqual(makeRequest("echo", { msgId: 8 }).data, {});
  const parsed = parseEnvelope(JSON.stringify(request));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.envelope, request);
});

Deno.test("makeResponse echoes cmd and msgId with state OK and no msg by default", () => {
  const before = Date.now();
  const response = makeResponse({ cmd: "echo", msgId: 7 });
  const { time, ...rest } = response;
  assertTime(time, before);
  assert.deepEqual(rest, { cmd: "echo", is_resp: true, msgId: 7, state: State.OK, data: {} });
  assert.equal("msg" in response, false);
  const parsed = parseEnvelope(JSON.stringify(response));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.envelope, response);
});

Deno.test("makeResponse carries the state, msg and data it is given", () => {
  const failed = makeResponse({ cmd: "cs_msg_login", msgId: 2 }, {
    state: State.FAIL,
    msg: "Wrong username or password",
  });
  assert.equal(failed.state, State.FAIL);
  assert.equal(failed.msg, "Wrong username or password");
  assert.deepEqual(failed.data, {});

  const noMsg = makeResponse({ cmd: "echo", msgId: 3 }, { state: State.TIMEOUT });
  assert.equal(noMsg.msg, "");

  const ok = makeResponse({ cmd: "echo", msgId: 4 }, { data: { n: 1 }, msg: "ignored" });
  assert.deepEqual(ok.data, { n: 1 });
  assert.equal("msg" in ok, false);

  for (const response of [failed, noMsg, ok]) {
    const parsed = parseEnvelope(JSON.stringify(response));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.envelope, response);
  }
});

Deno.test("makeResponse answers only the request's cmd and msgId", () => {
  const request = { cmd: "echo", is_req: true, msgId: 9, data: {}, clientId: 5, userId: 3 };
  const response = makeResponse(request);
  assert.equal("clientId" in response, false);
  assert.equal("userId" in response, false);
});

Deno.test("makePush builds a valid push without msgId", () => {
  const before = Date.now();
  const push = makePush("sc_msg_group_msg", { group: 1, text: "hi" });
  const { time, ...rest } = push;
  assertTime(time, before);
  assert.deepEqual(rest, {
    cmd: "sc_msg_group_msg",
    is_push: true,
    data: { group: 1, text: "hi" },
  });
  assert.equal("msgId" in push, false);
  const parsed = parseEnvelope(JSON.stringify(push));
  assert.ok(parsed.ok);
  assert.deepEqual(kindOf(parsed.envelope), ["push"]);
});

Deno.test("nestsDeeperThan counts nesting, not brackets inside strings", () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  assert.equal(nestsDeeperThan(deep(3), 3), false);
  assert.equal(nestsDeeperThan(deep(4), 3), true);
  assert.equal(nestsDeeperThan(`{"a":${deep(2)},"b":{"c":[1]}}`, 3), false, "siblings");
  assert.equal(nestsDeeperThan('{"a":"[[[[{{{{"}', 3), false, "brackets in a string");
  assert.equal(nestsDeeperThan(`{"a":"\\\\","b":${deep(3)}}`, 3), true, "after a backslash");
  assert.equal(nestsDeeperThan(`{"a":[${"{},".repeat(10)}{}]}`, 3), false, "many, shallow");
});
