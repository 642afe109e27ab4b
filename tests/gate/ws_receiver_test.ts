import assert from "node:assert/strict";
import { WsFault, WsOpcode, WsReceiver } from "../../server/gate/ws_receiver.ts";
import { websocketAccept } from "../../server/gate/ws_handshake.ts";
import { encodeWsFrame, type RawFrame } from "../fault/raw_ws.ts";

const encoder = new TextEncoder();

type Seen =
  | { text: string }
  | { binary: number[] }
  | { ping: number[] }
  | { close: number | undefined; reason: string };

function receiver(maxMessageBytes = 1024) {
  const seen: Seen[] = [];
  const r = new WsReceiver({
    maxMessageBytes,
    events: {
      onText: (text) => seen.push({ text }),
      onBinary: (bytes) => seen.push({ binary: [...bytes] }),
      onPing: (bytes) => seen.push({ ping: [...bytes] }),
      onClose: (close, reason) => seen.push({ close, reason }),
    },
  });
  return { r, seen };
}

function bytes(...frames: RawFrame[]): Uint8Array {
  const parts = frames.map(encodeWsFrame);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("WsReceiver: messages whole, however the bytes are cut", () => {
  const input = bytes(
    { opcode: WsOpcode.TEXT, payload: encoder.encode("héllo") },
    { opcode: WsOpcode.BINARY, fin: false, payload: new Uint8Array([1, 2]) },
    { opcode: WsOpcode.PING, payload: new Uint8Array([9]) },
    { opcode: WsOpcode.CONTINUATION, payload: new Uint8Array([3]) },
    { opcode: WsOpcode.TEXT, payload: encoder.encode("x".repeat(300)) },
    { opcode: WsOpcode.CLOSE, payload: new Uint8Array([0x03, 0xe8, 0x62, 0x79, 0x65]) },
  );
  const expected: Seen[] = [
    { text: "héllo" },
    { ping: [9] },
    { binary: [1, 2, 3] },
    { text: "x".repeat(300) },
    { close: 1000, reason: "bye" },
  ];
  for (const step of [1, 2, 3, 7, 64, input.length]) {
    const { r, seen } = receiver();
    const copy = input.slice();
    for (let at = 0; at < copy.length; at += step) {
      assert.equal(r.push(copy.slice(at, at + step)), undefined, `step ${step}`);
    }
    assert.deepEqual(seen, expected, `cut every ${step} bytes`);
    assert.equal(r.done, true);
  }
});

Deno.test("WsReceiver: a message past the limit fails at the frame that passes it, fragments counted", () => {
  const { r, seen } = receiver(1000);
  const part = new Uint8Array(400);
  assert.equal(r.push(bytes({ opcode: WsOpcode.TEXT, fin: false, payload: part })), undefined);
  assert.equal(
    r.push(bytes({ opcode: WsOpcode.CONTINUATION, fin: false, payload: part })),
    undefined,
  );
  assert.equal(r.heldBytes, 800);
  // Only the header of the third fragment is needed to refuse it: nothing of it is kept.
  const third = bytes({ opcode: WsOpcode.CONTINUATION, payload: part }).subarray(0, 8);
  const fault = r.push(third);
  assert.ok(fault instanceof WsFault);
  assert.equal(fault.closeCode, 1009);
  assert.equal(fault.code, "WS_ERR_MESSAGE_TOO_BIG");
  assert.match(fault.message, /over the limit of 1000 bytes/);
  assert.equal(r.heldBytes, 0);
  assert.deepEqual(seen, []);
  // A header claiming 2^63 bytes fails the same way.
  const huge = receiver(1000);
  const claim = encodeWsFrame({ opcode: WsOpcode.BINARY, declaredLength: 2n ** 63n });
  assert.equal(huge.r.push(claim)?.closeCode, 1009);
});

Deno.test("WsReceiver: each protocol fault has its close code", () => {
  const cases: Array<[string, RawFrame[], number, string]> = [
    [
      "invalid UTF-8",
      [{ opcode: WsOpcode.TEXT, payload: new Uint8Array([0xff]) }],
      1007,
      "WS_ERR_INVALID_UTF8",
    ],
    ["unmasked", [{ opcode: WsOpcode.TEXT, mask: false }], 1002, "WS_ERR_EXPECTED_MASK"],
    ["reserved bit", [{ opcode: WsOpcode.TEXT, rsv: 4 }], 1002, "WS_ERR_UNEXPECTED_RSV"],
    ["opcode 3", [{ opcode: 3 }], 1002, "WS_ERR_INVALID_OPCODE"],
    ["opcode 11", [{ opcode: 11 }], 1002, "WS_ERR_INVALID_OPCODE"],
    ["fragmented ping", [{ opcode: WsOpcode.PING, fin: false }], 1002, "WS_ERR_EXPECTED_FIN"],
    [
      "long ping",
      [{ opcode: WsOpcode.PING, payload: new Uint8Array(126) }],
      1002,
      "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
    ],
    [
      "lone continuation",
      [{ opcode: WsOpcode.CONTINUATION }],
      1002,
      "WS_ERR_UNEXPECTED_CONTINUATION",
    ],
    [
      "text inside a fragmented message",
      [{ opcode: WsOpcode.TEXT, fin: false }, { opcode: WsOpcode.TEXT }],
      1002,
      "WS_ERR_EXPECTED_CONTINUATION",
    ],
    [
      "close code 1005",
      [{ opcode: WsOpcode.CLOSE, payload: new Uint8Array([0x03, 0xed]) }],
      1002,
      "WS_ERR_INVALID_CLOSE_CODE",
    ],
    [
      "close of 1 byte",
      [{ opcode: WsOpcode.CLOSE, payload: new Uint8Array([3]) }],
      1002,
      "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
    ],
    [
      "close reason not UTF-8",
      [{ opcode: WsOpcode.CLOSE, payload: new Uint8Array([0x03, 0xe8, 0xff]) }],
      1007,
      "WS_ERR_INVALID_UTF8",
    ],
  ];
  for (const [name, frames, closeCode, code] of cases) {
    const { r } = receiver();
    const fault = r.push(bytes(...frames));
    assert.ok(fault instanceof WsFault, name);
    assert.equal(fault.closeCode, closeCode, name);
    assert.equal(fault.code, code, name);
    // Nothing after a fault is parsed.
    assert.equal(r.push(bytes({ opcode: WsOpcode.TEXT, payload: encoder.encode("x") })), undefined);
    assert.equal(r.done, true, name);
  }
});

Deno.test("websocketAccept gives RFC 6455's example answer", () => {
  assert.equal(websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});
