import assert from "node:assert/strict";
import { isStateCode, State, stateName } from "../../shared/state_codes.ts";
import { errorBody } from "../../shared/protocol_error.ts";

/** The state codes, copied from DESIGN.md ("State codes"). */
const DESIGN_TABLE: Record<string, number> = {
  OK: 1,
  FAIL: 0,
  UNDEFINED_CMD: 1001,
  SERVER_BUSY: 1002,
  SERVER_OFF: 1003,
  TIMEOUT: 1004,
  RATE_LIMITED: 1005,
  BAD_REQUEST: 1006,
  NOT_LOGGED_IN: 1007,
  FORBIDDEN: 1008,
};

Deno.test("the state codes are DESIGN.md's table", () => {
  assert.deepEqual({ ...State }, DESIGN_TABLE);
  const codes = Object.values(State);
  assert.equal(new Set(codes).size, codes.length);
});

Deno.test("stateName names each state code", () => {
  for (const [name, code] of Object.entries(DESIGN_TABLE)) {
    assert.equal(stateName(code), name);
  }
});

Deno.test("stateName marks a number outside the table", () => {
  assert.equal(stateName(42), "UNKNOWN(42)");
  assert.equal(stateName(-1), "UNKNOWN(-1)");
  assert.equal(stateName(1000), "UNKNOWN(1000)");
  assert.equal(stateName(1009), "UNKNOWN(1009)");
});

Deno.test("isStateCode is true only for the table's numbers", () => {
  for (const code of Object.values(DESIGN_TABLE)) assert.equal(isStateCode(code), true, `${code}`);
  for (
    const value of [2, 42, 1000, 1009, -1, 1.5, NaN, "1", null, undefined, true, [1], { code: 1 }]
  ) {
    assert.equal(isStateCode(value), false, String(value));
  }
});

Deno.test("errorBody is JSON {code, msg} with BAD_REQUEST by default", () => {
  assert.equal(
    errorBody("Unknown message type 42"),
    '{"code":1006,"msg":"Unknown message type 42"}',
  );
  assert.deepEqual(JSON.parse(errorBody('Say "hi"', State.SERVER_BUSY)), {
    code: 1002,
    msg: 'Say "hi"',
  });
});
