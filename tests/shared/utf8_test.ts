import assert from "node:assert/strict";
import { decodeStrictUtf8 } from "../../shared/utf8.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const fatal = new TextDecoder("utf-8", { fatal: true });

Deno.test("strict UTF-8: valid text decodes as it was encoded", () => {
  for (
    const text of ["", "{}", '{"cmd":"echo","data":{"s":"héllo wörld ✓ 🎲"}}', "x".repeat(5000)]
  ) {
    assert.equal(decodeStrictUtf8(encode(text)), text);
  }
});

Deno.test("strict UTF-8: a U+FFFD that was sent is kept, not taken for a fault", () => {
  const text = '{"s":"a \uFFFD b"}';
  assert.equal(decodeStrictUtf8(encode(text)), text);
});

Deno.test("strict UTF-8: invalid bytes throw TypeError, as the fatal decoder does", () => {
  const invalid = [
    [0xff], // never a UTF-8 byte
    [0x61, 0x80], // a continuation byte alone
    [0xc3], // a sequence cut short
    [0xc0, 0xaf], // overlong "/"
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [...encode('{"s":"ok \uFFFD'), 0xfe, ...encode('"}')], // a real U+FFFD before the fault
  ];
  for (const bytes of invalid) {
    const input = new Uint8Array(bytes);
    assert.throws(() => fatal.decode(input), TypeError);
    assert.throws(() => decodeStrictUtf8(input), TypeError);
  }
});

Deno.test("strict UTF-8: a leading byte order mark is dropped unless ignoreBOM", () => {
  const bytes = encode("\uFEFF{}");
  assert.equal(decodeStrictUtf8(bytes), "{}");
  assert.equal(decodeStrictUtf8(bytes, { ignoreBOM: true }), "\uFEFF{}");
});

Deno.test("strict UTF-8: a view into a larger buffer decodes only its bytes", () => {
  const buffer = new Uint8Array(64).fill(0xff);
  const text = encode("é{}");
  buffer.set(text, 10);
  assert.equal(decodeStrictUtf8(buffer.subarray(10, 10 + text.length)), "é{}");
});
