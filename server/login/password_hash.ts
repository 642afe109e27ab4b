/**
 * Password hashing: scrypt through `node:crypto`'s asynchronous `scrypt`, which runs on a worker
 * thread, never on the event loop. Each hash is stored as a PHC string that carries its
 * parameters and salt, `$scrypt$ln=16,r=8,p=2$<salt>$<hash>` (base64 without padding), so that
 * the cost can be raised later: {@linkcode PasswordHasher.verify} says when a stored hash is
 * weaker than the current parameters, and the login service then hashes the password again.
 *
 * The cost, `owasp`: N = 2^16 (64 MiB), r = 8, p = 2, one of the scrypt settings of OWASP's
 * Password Storage Cheat Sheet (all of which it rates as equal; this one needs half the memory of
 * N = 2^17, p = 1). About 0.4 s of one core per hash. Because each hash holds 64 MiB and is the
 * scarce resource an attacker goes for, hashes run through a {@linkcode HashScheduler}: at most
 * `concurrency` at once (default: the number of cores, at most 4), shared fairly between the
 * sources (client addresses) that ask, each with a budget of hashing time; a hash that cannot
 * start fails with {@linkcode HasherBusyError} rather than run for a request the gate has given
 * up on.
 *
 * @example
 * ```ts
 * const hasher = new PasswordHasher({ params: HASH_COSTS.owasp });
 * const stored = await hasher.hash("secret123");
 * (await hasher.verify({ stored, password: "secret123" })).ok; // true
 * ```
 * @module
 */

import { scrypt, timingSafeEqual } from "node:crypto";
import { HasherBusyError, HashScheduler, type HashShare, type Standing } from "./hash_scheduler.ts";

/** scrypt's parameters: N = 2^ln (cost), r (block size), p (parallelism). */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** The named costs `--hash-cost` takes. */
export const HASH_COSTS: Readonly<Record<"owasp" | "test", Readonly<ScryptParams>>> = Object
  .freeze({
    /** OWASP's N = 2^16, r = 8, p = 2 (64 MiB per hash). */
    owasp: Object.freeze({ ln: 16, r: 8, p: 2 }),
    /** Weak and fast, for tests only: N = 2^10, r = 8, p = 1 (1 MiB). */
    test: Object.freeze({ ln: 10, r: 8, p: 1 }),
  });

/** A name of {@linkcode HASH_COSTS}. */
export type HashCost = keyof typeof HASH_COSTS;

/** Whether `value` names a cost of {@linkcode HASH_COSTS}. */
export function isHashCost(value: unknown): value is HashCost {
  return typeof value === "string" && Object.hasOwn(HASH_COSTS, value);
}

/**
 * What a hash at `params` costs from a source's budget: its memory × time (N·r·p) next to one at
 * the `owasp` cost, so 1 for `owasp` and 1/128 for `test`.
 */
export function costOf(params: ScryptParams): number {
  const owasp = HASH_COSTS.owasp;
  return (2 ** params.ln * params.r * params.p) / (2 ** owasp.ln * owasp.r * owasp.p);
}

/** Bytes of random salt per hash. */
export const SALT_BYTES = 16;

/** Bytes of derived key. */
export const KEY_BYTES = 32;

/** A stored hash, parsed. */
export interface ParsedHash {
  params: ScryptParams;
  salt: Uint8Array;
  hash: Uint8Array;
}

const B64 = /^[A-Za-z0-9+/]+$/;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function toB64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/=+$/, "");
}

function fromB64(text: string): Uint8Array | undefined {
  if (!B64.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text + "=".repeat((4 - text.length % 4) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Formats a hash as a PHC string. */
export function formatPasswordHash(parsed: ParsedHash): string {
  const { ln, r, p } = parsed.params;
  return `$scrypt$ln=${ln},r=${r},p=${p}$${toB64(parsed.salt)}$${toB64(parsed.hash)}`;
}

/** Parses a PHC string of ours; `undefined` when it is not one or its values are out of range. */
export function parsePasswordHash(text: string): ParsedHash | undefined {
  const m = PHC.exec(text);
  if (!m) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.ln < 1 || params.ln > 20 || params.r < 1 || params.r > 32) return undefined;
  if (params.p < 1 || params.p > 16) return undefined;
  const salt = fromB64(m[4]);
  const hash = fromB64(m[5]);
  if (!salt || !hash || salt.length < 8 || hash.length < 16 || hash.length > 64) return undefined;
  return { params, salt, hash };
}

/** Whether `params` is weaker than `current` in any of its parameters. */
export function isWeaker(params: ScryptParams, current: ScryptParams): boolean {
  return params.ln < current.ln || params.r < current.r || params.p < current.p;
}

export { HasherBusyError };

/** Options of {@linkcode PasswordHasher}. */
export interface PasswordHasherOptions {
  /** The current cost: new hashes use it, weaker stored ones need a re-hash. */
  params: ScryptParams;
  /** Hashes that run at once. Default: the number of cores, from 1 to 4. */
  concurrency?: number;
  /** Hashes that may wait for a slot. Default 1024. */
  maxQueue?: number;
  /** Longest wait for a slot before giving up. Default 8000 (under the gate's request timeout). */
  maxWaitMs?: number;
  /** The rest of the sharing policy between sources ({@linkcode HashScheduler}). */
  share?: Partial<HashShare>;
}

/** Who a hash is for: its source (the client's address) shares the hasher with the others. */
export interface HashFor {
  /** The client's address; hashes without one share the source `""`. */
  source?: string;
  /** How far the source is trusted (see {@linkcode HashScheduler}); `new` by default. */
  standing?: Standing | (() => Standing);
  /** Called when the hash starts (it may first wait for a slot). */
  onStart?: () => void;
}

/** What {@linkcode PasswordHasher.verify} found. */
export interface VerifyResult {
  ok: boolean;
  /** The password is right and its stored hash is weaker than the current cost. */
  needsRehash: boolean;
}

function derive(
  options: { password: string; salt: Uint8Array; params: ScryptParams; keyBytes: number },
): Promise<Uint8Array> {
  const { ln, r, p } = options.params;
  const N = 2 ** ln;
  return new Promise((resolve, reject) => {
    scrypt(
      options.password,
      options.salt,
      options.keyBytes,
      { N, r, p, maxmem: 128 * r * (2 * N + p + 2) },
      (error, key) => error ? reject(error) : resolve(new Uint8Array(key)),
    );
  });
}

/** Hashes and checks passwords, a bounded number at once, shared fairly between sources. */
export class PasswordHasher {
  #params: ScryptParams;
  #scheduler: HashScheduler;
  #dummy?: Promise<string>;

  constructor(options: PasswordHasherOptions) {
    this.#params = { ...options.params };
    const cores = typeof navigator === "object" ? navigator.hardwareConcurrency ?? 2 : 2;
    this.#scheduler = new HashScheduler({
      ...options.share,
      concurrency: options.concurrency ?? Math.max(1, Math.min(4, cores)),
      ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
      ...(options.maxWaitMs === undefined ? {} : { maxWaitMs: options.maxWaitMs }),
    });
  }

  /** The current cost. */
  get params(): ScryptParams {
    return { ...this.#params };
  }

  /** The scheduler that shares the slots (for its counters and policy). */
  get scheduler(): HashScheduler {
    return this.#scheduler;
  }

  /** Hashes running now. */
  get running(): number {
    return this.#scheduler.running;
  }

  /** Hashes waiting for a slot. */
  get waiting(): number {
    return this.#scheduler.waiting;
  }

  /** Hashes a password with a fresh salt at the current cost; resolves with the PHC string. */
  async hash(password: string, options: HashFor = {}): Promise<string> {
    const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
    const hash = await this.#scheduler.run(
      options.source ?? "",
      () => derive({ password, salt, params: this.#params, keyBytes: KEY_BYTES }),
      { standing: options.standing, cost: costOf(this.#params), onStart: options.onStart },
    );
    return formatPasswordHash({ params: this.#params, salt, hash });
  }

  /**
   * Checks a password against a stored hash, in constant time. A stored hash that is not a PHC
   * string of ours never matches.
   */
  async verify(
    options: { stored: string; password: string } & HashFor,
  ): Promise<VerifyResult> {
    const parsed = parsePasswordHash(options.stored);
    if (!parsed) return { ok: false, needsRehash: false };
    const hash = await this.#scheduler.run(options.source ?? "", () =>
      derive({
        password: options.password,
        salt: parsed.salt,
        params: parsed.params,
        keyBytes: parsed.hash.length,
      }), { standing: options.standing, cost: costOf(parsed.params), onStart: options.onStart });
    const ok = hash.length === parsed.hash.length && timingSafeEqual(hash, parsed.hash);
    return { ok, needsRehash: ok && isWeaker(parsed.params, this.#params) };
  }

  /**
   * Spends the time of a check for a username that does not exist, so that a wrong username and
   * a wrong password take as long: a real check against a dummy hash of the current cost, made
   * once (outside any source's budget). Always resolves `false`.
   */
  async verifyUnknown(password: string, options: HashFor = {}): Promise<false> {
    this.#dummy ??= this.#dummyHash();
    await this.verify({ stored: await this.#dummy, password, ...options });
    return false;
  }

  /** Makes the dummy hash now, so that even the first unknown username costs one hash. */
  async ready(): Promise<void> {
    this.#dummy ??= this.#dummyHash();
    await this.#dummy;
  }

  /** The dummy hash; forgotten when making it failed, so that the next call tries again. */
  #dummyHash(): Promise<string> {
    const made = this.hash(toB64(crypto.getRandomValues(new Uint8Array(12))), {
      source: "(dummy)",
    });
    made.catch(() => this.#dummy = undefined);
    return made;
  }
}
