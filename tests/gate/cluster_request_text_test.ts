import assert from "node:assert/strict";
import {
  cmdField,
  readRequestHead,
  requestText,
  withMsgId,
} from "../../server/gate/cluster_request_text.ts";
import type { RequestEnvelope } from "../../shared/mod.ts";

function request(): RequestEnvelope {
  return {
    data: { text: 'a "msgId":9 inside', msgId: 3 },
    is_req: true,
    cmd: "echo",
    msgId: 41,
    clientId: 7,
    userId: 0,
  };
}

Deno.test("request text: msgId and cmd first, the request itself unchanged", () => {
  const r = request();
  const text = requestText(r);
  assert.ok(text.startsWith('{"msgId":41,"cmd":"echo",'), text);
  assert.deepEqual(JSON.parse(text), request(), "the same envelope, read back");
  assert.deepEqual(r, request(), "the request object keeps its msgId and cmd");
});

Deno.test("request text: the serving gate replaces only msgId", () => {
  const text = requestText(request());
  const head = readRequestHead(text, cmdField("echo"));
  assert.deepEqual(head, { msgId: 41, rest: '{"msgId":41'.length });
  const forwarded = JSON.parse(withMsgId(text, { head: head!, msgId: 900 }));
  assert.deepEqual(forwarded, { ...request(), msgId: 900 });
});

Deno.test("request text: a text that does not start as one is not read", () => {
  const field = cmdField("echo");
  const refused = [
    '{"cmd":"echo","msgId":1,"is_req":true}', // another order: parsed whole by the caller
    '{"msgId":1,"cmd":"other","is_req":true}', // another command than the subject's
    '{"msgId":1,"cmd":"echoes","is_req":true}',
    '{"msgId":0,"cmd":"echo","is_req":true}', // not a positive integer
    '{"msgId":01,"cmd":"echo","is_req":true}',
    '{"msgId":-1,"cmd":"echo","is_req":true}',
    '{"msgId":1.5,"cmd":"echo","is_req":true}',
    '{"msgId":99999999999999999,"cmd":"echo","is_req":true}', // over a safe integer
    '{"msgId":1,"cmd":"echo","is_req":true', // not closed
    '{"msgId":',
    "",
    "not json",
  ];
  for (const text of refused) assert.equal(readRequestHead(text, field), undefined, text);
  assert.deepEqual(readRequestHead('{"msgId":9007199254740991,"cmd":"echo"}', field), {
    msgId: 9007199254740991,
    rest: 25,
  });
});
