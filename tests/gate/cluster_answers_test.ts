import assert from "node:assert/strict";
import { encodeBatch, readAnswerBatch, replyGate } from "../../server/gate/cluster_answers.ts";

const encoder = new TextEncoder();

Deno.test("answer batch: entries read back; a body that does not fit stops the reading", () => {
  const body = encoder.encode('7 1 10\n{"a":"é"}12 13 2\n{}');
  const { answers, fault } = readAnswerBatch(body);
  assert.equal(fault, undefined);
  assert.deepEqual(
    answers.map((a) => [a.id, a.state, new TextDecoder().decode(a.bytes)]),
    [[7, 1, '{"a":"é"}'], [12, 13, "{}"]],
  );
  const faults = [
    "7 1 50\n{}", // longer than the message
    "x 1 2\n{}",
    "7 1\n{}",
    "7  1 2\n{}",
    "99999999999999999 1 2\n{}",
    "7 1 2",
  ];
  for (const text of faults) {
    const read = readAnswerBatch(encoder.encode(text));
    assert.deepEqual(read.answers, [], text);
    assert.equal(typeof read.fault, "string", text);
  }
  const partial = readAnswerBatch(encoder.encode("7 1 2\n{}8 x"));
  assert.equal(partial.answers.length, 1, "the answers before the fault are kept");
  assert.ok(partial.fault);
});

Deno.test("answer batch: what encodeBatch writes reads back, whatever the texts' sizes", () => {
  const texts = ["", "{}", "abc", "abcd", "é€😀", "x".repeat(333), "é".repeat(70_000), "{}"];
  const entries = texts.map((text, i) => ({
    id: i % 2 === 0 ? i * 1_000_003 : String(i),
    state: [0, 1, 1008][i % 3],
    text,
  }));
  for (let round = 0; round < 2; round++) {
    const { answers, fault } = readAnswerBatch(encodeBatch(entries));
    assert.equal(fault, undefined);
    assert.deepEqual(
      answers.map((a) => [a.id, a.state, new TextDecoder().decode(a.bytes)]),
      entries.map((e) => [Number(e.id), e.state, e.text]),
    );
  }
});

Deno.test("reply gate: the gate number of a reply subject or prefix", () => {
  assert.equal(replyGate("gatehouse.r.7.3."), 7);
  assert.equal(replyGate("gatehouse.r.12.0.55"), 12);
  assert.equal(replyGate("gatehouse.r.4294967295.1.q1-2"), 4294967295);
  for (
    const subject of ["gatehouse.r..1.", "gatehouse.r.x.1.", "gatehouse.g.7.c.echo", "", "r.7.1."]
  ) {
    assert.ok(Number.isNaN(replyGate(subject)), subject);
  }
});
