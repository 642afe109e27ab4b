import assert from "node:assert/strict";
import {
  decodeFrame,
  encodeFrame,
  encodeFrameInto,
  type Frame,
  FrameDecoder,
  FrameError,
  type FrameFault,
  frameText,
  MAX_U32,
  nextSeq,
  readFrameHeader,
} from "../../shared/frame.ts";
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES } from "../../shared/limits.ts";
import vectors from "../../shared/testdata/frames.json" with { type: "json" };

interface GoodVector {
  name: string;
  hex: string;
  seq: number;
  type: number;
  body: string;
  binaryHex: string;
}

interface BadVector {
  name: string;
  hex: string;
  maxFrameBytes: number;
  fault: FrameFault;
  note: string;
}

const GOOD: GoodVector[] = vectors.good;
const BAD: BadVector[] = vectors.bad as BadVector[];
// Every loop below runs once per vector: an emptied list must fail, not pass with no steps.
assert.ok(GOOD.length > 0, "shared/testdata/frames.json lists good vectors");
assert.ok(BAD.length > 0, "shared/testdata/frames.json lists bad vectors");
const FAULTS: FrameFault[] = ["BAD_SYNC", "BAD_LENGTH", "TOO_LARGE", "BAD_BODY_LENGTH"];

/** Lowercase hex to bytes, without going through our codec. */
function hexToBytes(hex: string): Uint8Array {
  assert.match(hex, /^(?:[0-9a-f]{2})*$/, "Vector hex must be lowercase pairs");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A seeded PRNG (mulberry32), so that a failing chunking can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A frame as comparable plain fields, in the shape of a good vector. */
function fieldsOf(frame: Frame) {
  return {
    seq: frame.seq,
    type: frame.type,
    body: frameText(frame),
    bodyHex: bytesToHex(frame.body),
    binaryHex: bytesToHex(frame.binary),
  };
}

function expectedFields(vector: GoodVector) {
  return {
    seq: vector.seq,
    type: vector.type,
    body: vector.body,
    bodyHex: bytesToHex(new TextEncoder().encode(vector.body)),
    binaryHex: vector.binaryHex,
  };
}

function inputOf(vector: GoodVector) {
  return {
    seq: vector.seq,
    type: vector.type,
    body: vector.body,
    binary: hexToBytes(vector.binaryHex),
  };
}

/** Feeds `chunks` to a fresh decoder; returns every frame as plain fields. */
function decodeChunks(chunks: Uint8Array[]) {
  const decoder = new FrameDecoder();
  const frames = chunks.flatMap((chunk) => decoder.push(chunk)).map(fieldsOf);
  assert.equal(decoder.bufferedBytes, 0, "No bytes may be left over after whole frames");
  return frames;
}

function assertFrameError(fn: () => unknown, fault: FrameFault): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FrameError, `Expected a FrameError, got ${error}`);
    assert.equal(error.fault, fault);
    assert.equal(error.name, "FrameError");
    assert.ok(error.message.length > 0);
    return true;
  });
}

/**
 * Runs `fn` with `Uint8Array` replaced by a proxy that records the length of every buffer
 * allocated by number (`new Uint8Array(n)`); returns those lengths.
 */
function allocationsDuring(fn: () => void): number[] {
  const original = globalThis.Uint8Array;
  const lengths: number[] = [];
  globalThis.Uint8Array = new Proxy(original, {
    construct(target, args, newTarget) {
      if (typeof args[0] === "number") lengths.push(args[0]);
      return Reflect.construct(
        target,
        args,
        newTarget === globalThis.Uint8Array ? target : newTarget,
      );
    },
  });
  try {
    fn();
  } finally {
    globalThis.Uint8Array = original;
  }
  return lengths;
}

const STREAM = concat(GOOD.map((vector) => hexToBytes(vector.hex)));
const ALL_EXPECTED = GOOD.map(expectedFields);

Deno.test("frame vectors cover every fault and the cases the design names", () => {
  assert.ok(GOOD.length >= 7);
  assert.deepEqual(new Set(BAD.map((vector) => vector.fault)), new Set(FAULTS));
  for (const vector of [...GOOD, ...BAD]) {
    assert.ok(vector.hex.length >= 2 * FRAME_HEADER_BYTES, vector.name);
  }
  for (const vector of GOOD) {
    assert.equal(vector.hex.slice(0, 8), "096f0101", vector.name);
    assert.equal(vector.hex.slice(40, 64), "0".repeat(24), `${vector.name}: reserved bytes`);
  }
  assert.equal(
    new Set([...GOOD, ...BAD].map((vector) => vector.name)).size,
    GOOD.length + BAD.length,
  );
});

Deno.test("encodeFrame gives exactly each good vector's bytes", async (t) => {
  for (const vector of GOOD) {
    await t.step(vector.name, () => {
      assert.equal(bytesToHex(encodeFrame(inputOf(vector))), vector.hex);
    });
  }
});

Deno.test("encodeFrame takes the string body as bytes too", () => {
  for (const vector of GOOD) {
    const input = { ...inputOf(vector), body: new TextEncoder().encode(vector.body) };
    assert.equal(bytesToHex(encodeFrame(input)), vector.hex, vector.name);
  }
});

Deno.test("encodeFrame treats a missing body and binary as empty", () => {
  assert.equal(
    bytesToHex(encodeFrame({ seq: 0, type: 0 })),
    "096f0101" + "00000020" + "00000000".repeat(3) + "00".repeat(12),
  );
});

Deno.test("encodeFrame refuses seq and type that are not unsigned 32-bit integers", () => {
  for (const bad of [-1, MAX_U32 + 1, 1.5, NaN, Infinity]) {
    assert.throws(() => encodeFrame({ seq: bad, type: 1 }), RangeError, `seq ${bad}`);
    assert.throws(() => encodeFrame({ seq: 1, type: bad }), RangeError, `type ${bad}`);
  }
  assert.throws(
    () => encodeFrame({ seq: -1, type: 1 }),
    { message: "Frame seq must be an unsigned 32-bit integer" },
  );
});

Deno.test("FrameDecoder decodes each good vector in one push", async (t) => {
  for (const vector of GOOD) {
    await t.step(vector.name, () => {
      assert.deepEqual(decodeChunks([hexToBytes(vector.hex)]), [expectedFields(vector)]);
    });
  }
});

Deno.test("decodeFrame decodes each good vector", async (t) => {
  for (const vector of GOOD) {
    await t.step(vector.name, () => {
      assert.deepEqual(fieldsOf(decodeFrame(hexToBytes(vector.hex))), expectedFields(vector));
    });
  }
});

Deno.test("decodeFrame reads a frame that starts at an odd offset of its buffer", () => {
  for (const vector of GOOD) {
    const bytes = hexToBytes(vector.hex);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    assert.deepEqual(
      fieldsOf(decodeFrame(padded.subarray(3))),
      expectedFields(vector),
      vector.name,
    );
  }
});

Deno.test("decodeFrame refuses bytes that are not exactly one frame", () => {
  const bytes = hexToBytes(GOOD.find((vector) => vector.name === "heartbeat")!.hex);
  assertFrameError(() => decodeFrame(bytes.subarray(0, bytes.length - 1)), "BAD_LENGTH");
  assertFrameError(() => decodeFrame(concat([bytes, new Uint8Array(1)])), "BAD_LENGTH");
  assertFrameError(() => decodeFrame(bytes.subarray(0, FRAME_HEADER_BYTES - 1)), "BAD_LENGTH");
  assertFrameError(() => decodeFrame(new Uint8Array()), "BAD_LENGTH");
  assertFrameError(() => decodeFrame(concat([bytes, bytes])), "BAD_LENGTH");
});

Deno.test("FrameDecoder refuses each bad vector with its fault", async (t) => {
  for (const vector of BAD) {
    await t.step(vector.name, () => {
      const decoder = new FrameDecoder({ maxFrameBytes: vector.maxFrameBytes });
      assertFrameError(() => decoder.push(hexToBytes(vector.hex)), vector.fault);
    });
  }
});

Deno.test("decodeFrame refuses each bad vector with its fault", async (t) => {
  for (const vector of BAD) {
    await t.step(vector.name, () => {
      assertFrameError(
        () => decodeFrame(hexToBytes(vector.hex), vector.maxFrameBytes),
        vector.fault,
      );
    });
  }
});

Deno.test("readFrameHeader refuses each bad vector's header with its fault", () => {
  for (const vector of BAD) {
    const header = hexToBytes(vector.hex).subarray(0, FRAME_HEADER_BYTES);
    assertFrameError(() => readFrameHeader(header, vector.maxFrameBytes), vector.fault);
  }
});

Deno.test("FrameDecoder refuses a bad header as soon as its 32 bytes are in", async (t) => {
  for (const vector of BAD) {
    await t.step(vector.name, () => {
      const header = hexToBytes(vector.hex).subarray(0, FRAME_HEADER_BYTES);
      // The whole header in one push: refused at once, with no body yet.
      const decoder = new FrameDecoder({ maxFrameBytes: vector.maxFrameBytes });
      assertFrameError(() => decoder.push(header), vector.fault);
      // Byte by byte: refused by the header's last byte at the latest.
      const slow = new FrameDecoder({ maxFrameBytes: vector.maxFrameBytes });
      assertFrameError(() => {
        for (let i = 0; i < FRAME_HEADER_BYTES; i++) {
          assert.deepEqual(slow.push(header.subarray(i, i + 1)), []);
        }
      }, vector.fault);
    });
  }
});

Deno.test("FrameDecoder allocates nothing for the body of a bad header", async (t) => {
  for (const vector of BAD) {
    await t.step(vector.name, () => {
      const bytes = hexToBytes(vector.hex);
      for (const split of [bytes.length, FRAME_HEADER_BYTES, 1]) {
        const decoder = new FrameDecoder({ maxFrameBytes: vector.maxFrameBytes });
        const lengths = allocationsDuring(() => {
          assertFrameError(() => {
            for (let i = 0; i < bytes.length; i += split) {
              decoder.push(bytes.subarray(i, i + split));
            }
          }, vector.fault);
        });
        assert.deepEqual(lengths, [], `Chunks of ${split}: allocated ${lengths}`);
      }
    });
  }
});

Deno.test("the allocation probe sees the decoder allocate a frame's buffer", () => {
  // Guards the test above: were the probe blind, it would pass whatever the decoder did.
  const bytes = hexToBytes(GOOD.find((vector) => vector.name === "heartbeat")!.hex);
  const decoder = new FrameDecoder();
  const lengths = allocationsDuring(() => {
    decoder.push(bytes.subarray(0, FRAME_HEADER_BYTES));
  });
  assert.ok(lengths.includes(bytes.length), `Allocated ${lengths}`);
});

Deno.test("FrameDecoder refuses a 2^32-1 full length from the header alone", () => {
  const vector = BAD.find((v) => v.name === "full length 2^32-1")!;
  const header = hexToBytes(vector.hex);
  assert.equal(header.length, FRAME_HEADER_BYTES);
  const decoder = new FrameDecoder();
  assertFrameError(() => decoder.push(header), "TOO_LARGE");
});

Deno.test("FrameDecoder accepts a full length equal to its limit", () => {
  const frame = encodeFrame({ seq: 1, type: 2, binary: new Uint8Array(64 - FRAME_HEADER_BYTES) });
  assert.equal(frame.length, 64);
  const decoder = new FrameDecoder({ maxFrameBytes: 64 });
  assert.equal(decoder.push(frame).length, 1);
  assert.equal(decodeFrame(frame, 64).seq, 1);
  assertFrameError(() => decodeFrame(frame, 63), "TOO_LARGE");

  // The default limit is 1 MiB: a header announcing exactly that is accepted and waits for the body.
  const header = hexToBytes(
    "096f0101" + "00100000" + "00000001" + "00000064" + "00000000" + "00".repeat(12),
  );
  assert.equal(DEFAULT_MAX_FRAME_BYTES, 1048576);
  const big = new FrameDecoder();
  assert.deepEqual(big.push(header), []);
  assert.equal(big.bufferedBytes, FRAME_HEADER_BYTES);
});

Deno.test("FrameDecoder decodes the good stream split at every single point", () => {
  for (let split = 0; split <= STREAM.length; split++) {
    const frames = decodeChunks([STREAM.subarray(0, split), STREAM.subarray(split)]);
    assert.deepEqual(frames, ALL_EXPECTED, `Split at ${split}`);
  }
});

Deno.test("FrameDecoder decodes the good stream fed byte by byte", () => {
  const chunks = Array.from(STREAM, (_, i) => STREAM.subarray(i, i + 1));
  assert.deepEqual(decodeChunks(chunks), ALL_EXPECTED);
});

Deno.test("FrameDecoder decodes the good stream in random chunk sizes", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = mulberry32(seed);
    const maxChunk = 1 + Math.floor(random() * 400);
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < STREAM.length;) {
      const size = Math.floor(random() * (maxChunk + 1)); // empty chunks too
      chunks.push(STREAM.subarray(offset, offset + size));
      offset += size;
    }
    assert.deepEqual(decodeChunks(chunks), ALL_EXPECTED, `Seed ${seed}`);
  }
});

Deno.test("FrameDecoder decodes every good frame coalesced in one push", () => {
  const decoder = new FrameDecoder();
  const frames = decoder.push(STREAM);
  assert.deepEqual(frames.map(fieldsOf), ALL_EXPECTED);
  assert.equal(decoder.bufferedBytes, 0);
});

Deno.test("FrameDecoder decodes the good stream twice over on one decoder", () => {
  const decoder = new FrameDecoder();
  const first = decoder.push(STREAM.subarray(0, 100));
  const rest = decoder.push(concat([STREAM.subarray(100), STREAM]));
  assert.deepEqual([...first, ...rest].map(fieldsOf), [...ALL_EXPECTED, ...ALL_EXPECTED]);
});

Deno.test("FrameDecoder counts the bytes of an unfinished frame", () => {
  const bytes = hexToBytes(GOOD.find((vector) => vector.name === "JSON envelope")!.hex);
  const decoder = new FrameDecoder();
  assert.equal(decoder.bufferedBytes, 0);
  assert.deepEqual(decoder.push(bytes.subarray(0, 10)), []);
  assert.equal(decoder.bufferedBytes, 10);
  assert.deepEqual(decoder.push(bytes.subarray(10, 40)), []);
  assert.equal(decoder.bufferedBytes, 40);
  assert.equal(decoder.push(bytes.subarray(40)).length, 1);
  assert.equal(decoder.bufferedBytes, 0);
});

Deno.test("FrameDecoder frames do not share memory with the pushed chunk", () => {
  // The gate reads into one buffer over and over: a frame must survive the next read.
  for (const split of [STREAM.length, 7, 50]) {
    const buffer = STREAM.slice();
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let i = 0; i < buffer.length; i += split) {
      frames.push(...decoder.push(buffer.subarray(i, i + split)));
      buffer.subarray(i, i + split).fill(0xaa);
    }
    assert.deepEqual(frames.map(fieldsOf), ALL_EXPECTED, `Chunks of ${split}`);
  }
});

Deno.test("FrameDecoder keeps refusing after a fault", () => {
  for (const vector of BAD) {
    const decoder = new FrameDecoder({ maxFrameBytes: vector.maxFrameBytes });
    assertFrameError(() => decoder.push(hexToBytes(vector.hex)), vector.fault);
    for (const next of [STREAM, hexToBytes(GOOD[0].hex), new Uint8Array(1)]) {
      assert.throws(() => decoder.push(next), FrameError, vector.name);
    }
  }
});

Deno.test("FrameDecoder refuses a bad header that follows good frames in one push", () => {
  const bad = hexToBytes(BAD[0].hex);
  const decoder = new FrameDecoder();
  assertFrameError(() => decoder.push(concat([STREAM, bad])), BAD[0].fault);
  assert.throws(() => decoder.push(STREAM), FrameError);
});

Deno.test("frameText throws on a string body that is not valid UTF-8", () => {
  const invalid = [
    "ff", // never valid
    "c0af", // overlong '/'
    "e4b8", // truncated 3-byte sequence
    "eda080", // lone surrogate
    "f4908080", // beyond U+10FFFF
    "80", // continuation byte first
    "7b7dc3", // valid, then a truncated sequence at the end
  ];
  for (const hex of invalid) {
    const frame = decodeFrame(encodeFrame({ seq: 1, type: 100, body: hexToBytes(hex) }));
    assert.throws(() => frameText(frame), TypeError, hex);
  }
  // Bytes of the binary data are not the string body's business.
  const withBinary = decodeFrame(
    encodeFrame({ seq: 1, type: 100, body: "{}", binary: hexToBytes("ff") }),
  );
  assert.equal(frameText(withBinary), "{}");
});

Deno.test("frameText keeps a leading byte-order mark", () => {
  // The string body is text as sent: a reader in another language keeps U+FEFF, so ours must too.
  const frame = decodeFrame(encodeFrame({ seq: 1, type: 100, body: "\uFEFF{}" }));
  assert.equal(bytesToHex(frame.body), "efbbbf7b7d");
  assert.equal(frameText(frame), "\uFEFF{}");
});

Deno.test("frames whose string body is not valid UTF-8 decode, and their text is refused", async (t) => {
  const vectors_ = (vectors as unknown as {
    badText: { name: string; hex: string; seq: number; type: number; bodyHex: string }[];
  }).badText;
  assert.ok(vectors_.length >= 5);
  for (const vector of vectors_) {
    await t.step(vector.name, () => {
      const frame = decodeFrame(hexToBytes(vector.hex));
      assert.equal(frame.seq, vector.seq);
      assert.equal(frame.type, vector.type);
      assert.equal(bytesToHex(frame.body), vector.bodyHex);
      assert.throws(() => frameText(frame), TypeError);
    });
  }
});

Deno.test("nextSeq counts from 1 and wraps to 1 after 2^32 - 1, never giving 0", () => {
  assert.equal(nextSeq(0), 1);
  assert.equal(nextSeq(1), 2);
  assert.equal(nextSeq(MAX_U32 - 1), MAX_U32);
  assert.equal(nextSeq(MAX_U32), 1);
  let seq = MAX_U32 - 2;
  const sent: number[] = [];
  for (let i = 0; i < 4; i++) {
    seq = nextSeq(seq);
    sent.push(seq);
  }
  assert.deepEqual(sent, [MAX_U32 - 1, MAX_U32, 1, 2]);
  for (const value of sent) {
    assert.equal(decodeFrame(encodeFrame({ seq: value, type: 1, body: "" })).seq, value);
  }
});

Deno.test("FrameDecoder with views decodes the good stream in random chunks, each frame read before the chunk's buffer is written again", () => {
  for (let seed = 1; seed <= 100; seed++) {
    const random = mulberry32(seed);
    const decoder = new FrameDecoder({ views: true });
    // One buffer reused for every read, as a socket reader does.
    const buffer = new Uint8Array(512);
    const frames = [];
    for (let offset = 0; offset < STREAM.length;) {
      const size = Math.min(Math.floor(random() * 513), STREAM.length - offset);
      buffer.set(STREAM.subarray(offset, offset + size));
      frames.push(...decoder.push(buffer.subarray(0, size)).map(fieldsOf));
      buffer.fill(0xee);
      offset += size;
    }
    assert.equal(decoder.bufferedBytes, 0);
    assert.deepEqual(frames, ALL_EXPECTED, `Seed ${seed}`);
  }
});

Deno.test("FrameDecoder copies a frame whole inside a chunk unless told to view it", () => {
  const chunk = STREAM.slice();
  const [copied] = new FrameDecoder().push(chunk);
  const [viewed] = new FrameDecoder({ views: true }).push(chunk);
  assert.notEqual(copied.body.buffer, chunk.buffer);
  assert.equal(viewed.body.buffer, chunk.buffer);
});

Deno.test("encodeFrameInto writes encodeFrame's bytes at any offset of a used buffer, and refuses a buffer too small", () => {
  const inputs = [
    { seq: 7, type: 1, body: '{"a":"é😀"}' },
    { seq: 1, type: 2, body: new Uint8Array([1, 2, 3]), binary: new Uint8Array([9, 9]) },
    { seq: 2, type: 3 },
  ];
  const out = new Uint8Array(256).fill(0xee);
  let at = 5;
  for (const input of inputs) {
    const expected = encodeFrame(input);
    const written = encodeFrameInto(out, { ...input, at });
    assert.equal(written, expected.length);
    assert.deepEqual(out.subarray(at, at + written), expected);
    at += written;
  }
  assert.throws(
    () => encodeFrameInto(new Uint8Array(40), { at: 0, seq: 1, type: 1, body: "x".repeat(20) }),
    RangeError,
  );
});
