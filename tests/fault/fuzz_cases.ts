/**
 * Seeded, reproducible fuzz inputs: a small PRNG whose stream for case `i` depends only on the
 * seed and `i` (so that one failing case can be replayed alone), valid envelopes and frames to
 * start from, and the mutators applied to them: wrong types, missing and forged fields, unknown
 * commands, deeply nested and huge JSON, bit flips, truncation, invalid UTF-8, and frame headers
 * with lengths near 0 and 2³²−1.
 *
 * @example
 * ```ts
 * const rng = Rng.forCase(seed, 17);
 * const envelope = seedEnvelope(rng, GATE_COMMANDS_FOR_FUZZ);
 * const { text, mutations } = mutateEnvelope(rng, envelope, { maxBytes: 1 << 20 });
 * ```
 * @module
 */

import { encodeFrame, FRAME_HEADER_BYTES, MAX_U32, SYNC_BYTES } from "../../shared/mod.ts";

/** sfc32, seeded through splitmix32: fast, small, and good enough to pick inputs. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** The generator of case `index` under `seed`: independent of every other case. */
  static forCase(seed: number, index: number): Rng {
    const high = Math.floor(seed / 0x1_0000_0000);
    return new Rng((seed ^ Math.imul(index + 1, 0x27d4eb2d) ^ Math.imul(high, 0x165667b1)) >>> 0);
  }

  /** An unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** `n` characters from `alphabet`. */
  text(n: number, alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"): string {
    let out = "";
    for (let i = 0; i < n; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

const encoder = new TextEncoder();

/** Strings a parser or a database might choke on: SQL, escapes, Unicode oddities. */
export const NASTY_STRINGS: readonly string[] = [
  "",
  " ",
  "'",
  '"',
  "' OR '1'='1",
  "'; DROP TABLE accounts; --",
  '"; DELETE FROM tokens WHERE 1=1; --',
  "admin'--",
  "1; SELECT * FROM sqlite_master",
  "%",
  "_",
  "\\",
  "\\' OR 1=1 --",
  "\u0000",
  "a\u0000b",
  "\n\r\t",
  "\u2028\u2029",
  "\ud800",
  "\udfff",
  "\ufeff",
  "😀",
  "Ａｄｍｉｎ",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "${jndi:ldap://x}",
  "{{7*7}}",
  "__proto__",
  "constructor",
  "hasOwnProperty",
  "0",
  "-1",
  "NaN",
  "null",
  "true",
];

/** Values of the wrong type (or the right type with a wrong value) for any field. */
export function wrongValue(rng: Rng): unknown {
  switch (rng.int(16)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, -0, 2 ** 53, 2 ** 53 + 2, -(2 ** 31), 2 ** 32, 1e308, 5e-324]);
    case 3:
      return rng.pick(NASTY_STRINGS);
    case 4:
      return [];
    case 5:
      return {};
    case 6:
      return [rng.int(100), "x", null];
    case 7:
      return { a: { b: { c: rng.int(9) } } };
    case 8:
      return "x".repeat(rng.pick([64, 65, 128, 129, 255, 256, 513, 1025, 4096]));
    case 9:
      return rng.text(rng.range(1, 20));
    case 10:
      return String(rng.int(1000));
    case 11:
      return Array.from({ length: rng.range(1, 50) }, () => rng.int(1000));
    case 12:
      return nestedValue(rng.range(2, 64));
    case 13:
      return JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}');
    case 14:
      return rng.u32();
    default:
      return rng.float() * 1e6;
  }
}

function nestedValue(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { n: value };
  return value;
}

/** Small random JSON data, the kind a real client sends. */
export function randomJson(rng: Rng, depth = 0): unknown {
  const kind = depth > 3 ? rng.int(4) : rng.int(7);
  switch (kind) {
    case 0:
      return rng.int(10_000);
    case 1:
      return rng.text(rng.int(24));
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    case 4:
    case 5: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) {
        out[rng.text(rng.range(1, 8))] = randomJson(rng, depth + 1);
      }
      return out;
    }
    default:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
  }
}

/** What the envelopes of one target look like: the commands it serves and their data. */
export interface EnvelopeSpec {
  /** Commands the target answers, with a maker of plausible data for each. */
  commands: ReadonlyArray<{ cmd: string; data: (rng: Rng) => unknown }>;
  /** Commands nobody serves, and reserved ones, to try as well. */
  strangers: readonly string[];
}

/** A valid request, response or push of `spec`, before mutation. */
export function seedEnvelope(rng: Rng, spec: EnvelopeSpec): Record<string, unknown> {
  const roll = rng.float();
  const msgId = rng.range(1, 2 ** 31);
  if (roll < 0.75) {
    const { cmd, data } = rng.pick(spec.commands);
    return { cmd, is_req: true, msgId, time: Date.now(), data: data(rng) };
  }
  if (roll < 0.88) {
    return { cmd: rng.pick(spec.strangers), is_req: true, msgId, data: randomJson(rng) };
  }
  if (roll < 0.95) {
    return {
      cmd: rng.pick(spec.commands).cmd,
      is_resp: true,
      msgId,
      state: rng.pick([0, 1, 1003, 1006]),
      msg: "m",
      data: randomJson(rng),
    };
  }
  return { cmd: "sc_msg_fuzz", is_push: true, time: Date.now(), data: randomJson(rng) };
}

const ENVELOPE_FIELDS = ["cmd", "is_req", "is_resp", "is_push", "msgId", "time", "data", "state"];
const FORGED_FIELDS = ["clientId", "userId", "is_ss_link"];

/** The outcome of a mutation: the bytes to send and what was done to them. */
export interface Mutated {
  bytes: Uint8Array;
  mutations: string[];
}

/**
 * Mutates an envelope structurally (wrong types, missing and forged fields, unknown commands,
 * deep nesting, huge data), then, sometimes, its bytes. `maxBytes` is the target's message
 * limit, so that huge inputs land near it on both sides.
 */
export function mutateEnvelope(
  rng: Rng,
  envelope: Record<string, unknown>,
  options: {
    maxBytes: number;
    strangers: readonly string[];
    byteMutationRate?: number;
    /** The fields to give wrong values or take away; an envelope's by default. */
    fields?: readonly string[];
  },
): Mutated {
  const mutations: string[] = [];
  const env = { ...envelope };
  const fields = options.fields ?? ENVELOPE_FIELDS;
  let text: string | undefined;
  const rounds = rng.pick([0, 1, 1, 1, 2, 3]);
  for (let r = 0; r < rounds; r++) {
    const what = rng.int(11);
    if (what <= 2) {
      const field = rng.pick(fields);
      env[field] = wrongValue(rng);
      mutations.push(`wrong ${field}`);
    } else if (what === 3) {
      const field = rng.pick(fields);
      delete env[field];
      mutations.push(`no ${field}`);
    } else if (what === 4) {
      const field = rng.pick(FORGED_FIELDS);
      env[field] = field === "is_ss_link" ? true : rng.pick([1, 2, 3, 99999, 2 ** 40]);
      mutations.push(`forged ${field}`);
    } else if (what === 5) {
      env.cmd = rng.chance(0.5) ? rng.pick(options.strangers) : strangeCmd(rng);
      mutations.push(`cmd ${JSON.stringify(env.cmd).slice(0, 40)}`);
    } else if (what === 6) {
      env.msgId = rng.pick([0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, "7", null, 1e21]);
      mutations.push(`msgId ${String(env.msgId)}`);
    } else if (what === 7) {
      // defineProperty, so that "__proto__" becomes an own field that JSON.stringify writes.
      Object.defineProperty(env, rng.pick(["data", "extra", "__proto__", "constructor"]), {
        value: wrongValue(rng),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      mutations.push("odd field");
    } else if (what === 8 && text === undefined) {
      const depth = rng.pick([16, 100, 1000, 10_000, 100_000]);
      const open = rng.chance(0.5) ? "[" : '{"a":';
      const close = open === "[" ? "]" : "}";
      if (depth * (open.length + 1) < options.maxBytes - 200) {
        delete env.data;
        const head = JSON.stringify(env);
        text = `${head.slice(0, -1)}${head.length > 2 ? "," : ""}"data":${open.repeat(depth)}${
          open === "[" ? "" : "1"
        }${close.repeat(depth)}}`;
        mutations.push(`nested ${depth}`);
      }
    } else if (what === 9 && text === undefined) {
      const target = rng.pick([
        options.maxBytes - 256,
        options.maxBytes - 64,
        options.maxBytes - 1,
        options.maxBytes,
        options.maxBytes + 1,
        options.maxBytes * 2,
        64 * 1024,
      ]);
      env.data = { pad: "" };
      const base = encoder.encode(JSON.stringify(env)).length;
      env.data = { pad: "x".repeat(Math.max(0, target - base)) };
      mutations.push(`huge ${target}`);
    } else {
      env.data = rng.chance(0.5) ? randomJson(rng) : Array.from({ length: 2000 }, (_, i) => i);
      mutations.push("other data");
    }
  }
  const bytes = encoder.encode(text ?? JSON.stringify(env));
  if (rng.chance(options.byteMutationRate ?? 0.35)) {
    const mutated = mutateBytes(rng, bytes);
    return { bytes: mutated.bytes, mutations: [...mutations, ...mutated.mutations] };
  }
  return { bytes, mutations };
}

function strangeCmd(rng: Rng): string {
  return rng.pick([
    "",
    " ",
    "x".repeat(65),
    "ss_msg_push",
    "ss_msg_kick",
    "ss_msg_user_login",
    "ss_msg_user_logout",
    "ss_msg_client_leave",
    "ss_anything",
    "sc_msg_kicked",
    "cs_msg_héart",
    "echo\u0000",
    "echo ",
    "ECHO",
    "__proto__",
    "constructor",
    "toString",
    "../echo",
    "echo;rm -rf /",
    rng.text(rng.range(1, 64), "abcdefghijklmnopqrstuvwxyz_.:-0123456789"),
  ]);
}

/** Bytes that are not UTF-8: stray continuation, overlong, surrogate, cut sequences, 0xFF. */
const INVALID_UTF8: ReadonlyArray<readonly number[]> = [
  [0xff],
  [0xfe],
  [0x80],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
];

/** Byte-level mutations: bit flips, insertions, deletions, truncation, duplication, bad UTF-8. */
export function mutateBytes(rng: Rng, input: Uint8Array): Mutated {
  let bytes: Uint8Array = input.slice();
  const mutations: string[] = [];
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    const what = rng.int(8);
    if (what <= 1 && bytes.length > 0) {
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips; i++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      mutations.push(`flip ${flips} bits`);
    } else if (what === 2) {
      const at = rng.int(bytes.length + 1);
      bytes = splice(bytes, at, 0, rng.bytes(rng.range(1, 16)));
      mutations.push(`insert at ${at}`);
    } else if (what === 3 && bytes.length > 0) {
      const at = rng.int(bytes.length);
      const n = rng.range(1, Math.min(32, bytes.length - at));
      bytes = splice(bytes, at, n, new Uint8Array());
      mutations.push(`delete ${n} at ${at}`);
    } else if (what === 4) {
      const keep = rng.int(bytes.length + 1);
      bytes = bytes.slice(0, keep);
      mutations.push(`truncate to ${keep}`);
    } else if (what === 5 && bytes.length > 0) {
      const at = rng.int(bytes.length);
      const n = rng.range(1, Math.min(64, bytes.length - at));
      bytes = splice(bytes, at, 0, bytes.slice(at, at + n));
      mutations.push(`duplicate ${n} at ${at}`);
    } else if (what === 6) {
      const at = rng.int(bytes.length + 1);
      bytes = splice(bytes, at, 0, Uint8Array.from(rng.pick(INVALID_UTF8)));
      mutations.push(`bad utf-8 at ${at}`);
    } else {
      bytes = splice(bytes, 0, 0, Uint8Array.from([0xef, 0xbb, 0xbf]));
      mutations.push("BOM");
    }
  }
  return { bytes, mutations };
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

/** Lengths worth trying in a header: the edges of every check. */
export function edgeLengths(rng: Rng, actual: number, maxFrameBytes: number): number {
  return rng.pick([
    0,
    1,
    FRAME_HEADER_BYTES - 1,
    FRAME_HEADER_BYTES,
    FRAME_HEADER_BYTES + 1,
    actual - 1,
    actual,
    actual + 1,
    maxFrameBytes - 1,
    maxFrameBytes,
    maxFrameBytes + 1,
    2 ** 31,
    2 ** 31 - 1,
    MAX_U32 - 1,
    MAX_U32,
    rng.u32(),
  ].filter((n) => n >= 0 && n <= MAX_U32));
}

/**
 * Builds the bytes of one framed-TCP (or WebSocket binary) case from a string body: the frame
 * whole, or with its header mutated (lengths near 0 and 2³²−1, sync bytes, type), its bytes
 * flipped or cut, or followed by more frames.
 */
export function mutateFrame(
  rng: Rng,
  body: Uint8Array,
  options: { type: number; types: readonly number[]; maxFrameBytes: number; seq?: number },
): Mutated {
  const mutations: string[] = [];
  let bytes = encodeFrame({ seq: options.seq ?? rng.u32(), type: options.type, body });
  const view = () => new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const rounds = rng.pick([0, 0, 1, 1, 1, 2]);
  for (let r = 0; r < rounds; r++) {
    const what = rng.int(10);
    if (what <= 1 && bytes.length >= FRAME_HEADER_BYTES) {
      const value = edgeLengths(rng, bytes.length, options.maxFrameBytes);
      view().setUint32(4, value);
      mutations.push(`full length ${value}`);
    } else if (what === 2 && bytes.length >= FRAME_HEADER_BYTES) {
      const value = edgeLengths(rng, body.length, options.maxFrameBytes);
      view().setUint32(16, value);
      mutations.push(`body length ${value}`);
    } else if (what === 3 && bytes.length >= FRAME_HEADER_BYTES) {
      const type = rng.chance(0.7) ? rng.pick(options.types) : rng.u32();
      view().setUint32(12, type);
      mutations.push(`type ${type}`);
    } else if (what === 4 && bytes.length >= 4) {
      bytes[rng.int(4)] ^= 1 << rng.int(8);
      mutations.push("sync bytes");
    } else if (what === 5 && bytes.length >= FRAME_HEADER_BYTES) {
      view().setUint32(8, rng.pick([0, MAX_U32, rng.u32()]));
      bytes.fill(rng.chance(0.5) ? 0xff : 0, 20, 32);
      mutations.push("seq and reserved");
    } else if (what === 6) {
      const keep = rng.int(bytes.length);
      bytes = bytes.slice(0, keep);
      mutations.push(`cut at ${keep}`);
    } else if (what === 7) {
      const more = encodeFrame({ seq: rng.u32(), type: options.type, body });
      const joined = new Uint8Array(bytes.length + more.length);
      joined.set(bytes, 0);
      joined.set(more, bytes.length);
      bytes = joined;
      mutations.push("two frames");
    } else if (what === 8) {
      const garbage = rng.chance(0.5)
        ? rng.bytes(rng.range(1, 64))
        : Uint8Array.from([...SYNC_BYTES, ...rng.bytes(rng.range(0, 40))]);
      const joined = new Uint8Array(bytes.length + garbage.length);
      joined.set(bytes, 0);
      joined.set(garbage, bytes.length);
      bytes = joined;
      mutations.push(`trailing ${garbage.length} bytes`);
    } else {
      const flips = rng.range(1, 4);
      for (let i = 0; i < flips && bytes.length > 0; i++) {
        bytes[rng.int(Math.min(bytes.length, FRAME_HEADER_BYTES + 8))] ^= 1 << rng.int(8);
      }
      mutations.push(`flip ${flips} header bits`);
    }
  }
  return { bytes, mutations };
}
