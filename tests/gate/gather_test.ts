import assert from "node:assert/strict";
import { makeRequest, makeResponse, State } from "../../shared/mod.ts";
import { Gather } from "../../server/gate/gather.ts";

const request = makeRequest("cs_list", { msgId: 7 });

function answer(state: number, data?: unknown, msg?: string): string {
  return JSON.stringify(makeResponse(request, { state, data, msg }));
}

function gathered(parts: (string | undefined)[], states: number[]) {
  const out: { text: string; state: number }[] = [];
  const gather = new Gather({
    request,
    field: "items",
    parts: parts.length,
    reply: (text, state) => out.push({ text, state }),
  });
  const replies = parts.map(() => gather.part());
  parts.forEach((p, i) => {
    if (p === undefined) replies[i].skip();
    else replies[i](p, states[i]);
  });
  return out;
}

Deno.test("gather: OK answers are joined by their array field, once all are in", () => {
  const out = gathered(
    [answer(State.OK, { items: [1, 2], other: "a" }), undefined, answer(State.OK, { items: [3] })],
    [State.OK, 0, State.OK],
  );
  assert.equal(out.length, 1);
  assert.equal(out[0].state, State.OK);
  const joined = JSON.parse(out[0].text);
  assert.deepEqual(joined.data, { items: [1, 2, 3], other: "a" });
  assert.equal(joined.msgId, 7);
});

Deno.test("gather: the first answer that is not OK is the answer", () => {
  const refused = answer(State.NOT_LOGGED_IN, undefined, "Log in first");
  const out = gathered([answer(State.OK, { items: [] }), refused], [State.OK, State.NOT_LOGGED_IN]);
  assert.deepEqual(out, [{ text: refused, state: State.NOT_LOGGED_IN }]);
});

Deno.test("gather: every part skipped is SERVER_OFF; a field that is no array is FAIL", () => {
  const off = gathered([undefined, undefined], [0, 0]);
  assert.equal(off[0].state, State.SERVER_OFF);
  assert.equal(JSON.parse(off[0].text).msg, "No service for cs_list is connected");
  const bad = gathered([answer(State.OK, { items: 3 })], [State.OK]);
  assert.equal(bad[0].state, State.FAIL);
  assert.equal(
    JSON.parse(bad[0].text).msg,
    "The answers to cs_list cannot be joined: field items is not an array",
  );
});
