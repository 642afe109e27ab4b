import assert from "node:assert/strict";
import { answerText } from "../../server/gate/answer_text.ts";
import { parseEnvelope } from "../../shared/mod.ts";

const ids = { cmd: "echo", msgId: 42, clientMsgId: 7 };

Deno.test("answer text: only msgId is replaced, the rest passed on as the link wrote it", () => {
  const text = '{"cmd":"echo","is_resp":true,"msgId":42,"state":1,"time":5,"data":{"a":[1,"x"]}}';
  const out = answerText(text, ids);
  assert.equal(
    out,
    '{"cmd":"echo","is_resp":true,"msgId":7,"state":1,"time":5,"data":{"a":[1,"x"]}}',
  );
});

Deno.test("answer text: refused (re-encoded by the caller) unless it reads as the gate would write it", () => {
  const cases: [string, string][] = [
    ["another field order", '{"is_resp":true,"cmd":"echo","msgId":42,"state":1,"data":{}}'],
    ["another cmd", '{"cmd":"echo2","is_resp":true,"msgId":42,"state":1,"data":{}}'],
    ["a cmd that only starts the same", '{"cmd":"ech","is_resp":true,"msgId":42,"state":1}'],
    ["another msgId", '{"cmd":"echo","is_resp":true,"msgId":43,"state":1,"data":{}}'],
    ["msgId with more digits", '{"cmd":"echo","is_resp":true,"msgId":420,"state":1,"data":{}}'],
    ["msgId not followed by a comma", '{"cmd":"echo","is_resp":true,"msgId":42}'],
    ["msgId repeated later", '{"cmd":"echo","is_resp":true,"msgId":42,"state":1,"msgId":42}'],
    ["cmd repeated later", '{"cmd":"echo","is_resp":true,"msgId":42,"state":1,"cmd":"echo"}'],
    ["a key named msgId in data", '{"cmd":"echo","is_resp":true,"msgId":42,"data":{"msgId":1}}'],
    [
      "msgId repeated with a space",
      '{"cmd":"echo","is_resp":true,"msgId":42,"state":1,"msgId" :42}',
    ],
    [
      "msgId repeated, escaped",
      '{"cmd":"echo","is_resp":true,"msgId":42,"state":1,"\\u006dsgId":42}',
    ],
    ["cmd in a value", '{"cmd":"echo","is_resp":true,"msgId":42,"state":1,"data":"cmd"}'],
    ["spaces", '{"cmd": "echo","is_resp":true,"msgId":42,"state":1,"data":{}}'],
    ["an escaped cmd", '{"cmd":"\\u0065cho","is_resp":true,"msgId":42,"state":1,"data":{}}'],
  ];
  for (const [what, text] of cases) {
    assert.equal(answerText(text, ids), undefined, what);
  }
});

Deno.test("answer text: a passed-on text reads back as the answer the gate parsed, with the requester's msgId", () => {
  const text =
    '{"cmd":"echo","is_resp":true,"msgId":42,"state":0,"msg":"no \\"such\\" user","time":1,"data":{"n":[{}]}}';
  const parsed = parseEnvelope(text);
  assert.ok(parsed.ok && !parsed.filled);
  const out = answerText(text, ids);
  assert.ok(out);
  assert.deepEqual(JSON.parse(out), { ...parsed.envelope, msgId: 7 });
});

Deno.test("answer text: validation says when it filled in a field the text lacked", () => {
  const lacking = [
    '{"cmd":"echo","is_resp":true,"msgId":42,"state":1}',
    '{"cmd":"echo","is_resp":true,"msgId":42,"state":0,"data":{}}',
  ];
  for (const text of lacking) {
    const parsed = parseEnvelope(text);
    assert.ok(parsed.ok && parsed.filled, text);
  }
  const whole = parseEnvelope(
    '{"cmd":"echo","is_resp":true,"msgId":42,"state":0,"msg":"","data":{}}',
  );
  assert.ok(whole.ok && !whole.filled);
});
