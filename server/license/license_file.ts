/**
 * The "dog" of the license server: a license file signed with Ed25519 (DESIGN.md, "The
 * services" → license).
 *
 * Files in the data directory:
 * - `license.key`: the vendor's private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), mode 0600.
 * - `license.pub`: the public key, SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
 * - `license.json`: `{customer, seats, expiresAt, signature}`, where `signature` is the base64
 *   Ed25519 signature of the canonical terms: the UTF-8 bytes of
 *   `JSON.stringify({customer, seats, expiresAt})` with the keys in exactly that order.
 *
 * A license is valid through the whole of its `expiresAt` day (UTC) and expired from the next
 * midnight UTC on.
 *
 * @example
 * ```ts
 * import { checkLicense } from "./license_file.ts";
 * const dog = await checkLicense({ dataDir: "./data" });
 * if (!dog.valid || dog.expired) console.log(dog.reason);
 * ```
 * @module
 */

import type { GetDogStatusRsp, LicenseRspBase } from "../../shared/license_messages.ts";

/** What a license grants. */
export interface LicenseTerms {
  /** Who the license is for. */
  customer: string;
  /** How many seats may be held at once. */
  seats: number;
  /** Last day of validity, `YYYY-MM-DD` (UTC). */
  expiresAt: string;
}

/** The license file: the terms and their signature. */
export interface LicenseFile extends LicenseTerms {
  /** Base64 Ed25519 signature of {@linkcode canonicalTerms}. */
  signature: string;
}

/**
 * What the server knows about its license file: the body of `GetDogStatusRsp` less `state` and
 * `msg`, and why the license is not usable.
 */
export interface DogStatus extends Omit<GetDogStatusRsp, keyof LicenseRspBase> {
  /** A sentence saying why no seats can be granted; absent when the license is usable. */
  reason?: string;
}

/** Largest seat count a license may grant. */
export const MAX_LICENSE_SEATS = 1_000_000;

/** Longest customer name. */
export const MAX_CUSTOMER_LENGTH = 200;

/** Largest license file the server reads. */
const MAX_LICENSE_FILE_BYTES = 64 * 1024;

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const DAY_MS = 86_400_000;

/** The paths of the license files in a data directory. */
export function licensePaths(dataDir: string): { key: string; pub: string; json: string } {
  const dir = dataDir.replace(/\/+$/, "") || "/";
  return {
    key: `${dir}/license.key`,
    pub: `${dir}/license.pub`,
    json: `${dir}/license.json`,
  };
}

/** Whether `text` is a real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(text: string): boolean {
  const m = DATE_PATTERN.exec(text);
  if (!m) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) &&
    date.getUTCFullYear() === Number(m[1]) &&
    date.getUTCMonth() + 1 === Number(m[2]) &&
    date.getUTCDate() === Number(m[3]);
}

/**
 * Checks license terms from untrusted input; returns them, or a sentence saying what is wrong.
 */
export function validateTerms(
  value: unknown,
): { ok: true; terms: LicenseTerms } | { ok: false; error: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: "The license must be a JSON object" };
  }
  const { customer, seats, expiresAt } = value as Record<string, unknown>;
  if (
    typeof customer !== "string" || customer.trim() === "" ||
    customer.length > MAX_CUSTOMER_LENGTH || CONTROL_CHARS.test(customer)
  ) {
    return {
      ok: false,
      error:
        `The customer must be 1 to ${MAX_CUSTOMER_LENGTH} characters without control characters`,
    };
  }
  if (
    typeof seats !== "number" || !Number.isSafeInteger(seats) || seats < 1 ||
    seats > MAX_LICENSE_SEATS
  ) {
    return {
      ok: false,
      error: `The seat count must be a whole number from 1 to ${MAX_LICENSE_SEATS}`,
    };
  }
  if (typeof expiresAt !== "string" || !isIsoDate(expiresAt)) {
    return { ok: false, error: "The expiry date must be a real date written YYYY-MM-DD" };
  }
  return { ok: true, terms: { customer, seats, expiresAt } };
}

/** The exact bytes that are signed: the terms as JSON, keys in a fixed order, no spaces. */
export function canonicalTerms(terms: LicenseTerms): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(
    JSON.stringify({ customer: terms.customer, seats: terms.seats, expiresAt: terms.expiresAt }),
  );
}

/** Whether a license whose last day is `expiresAt` has expired at `now` (ms since epoch). */
export function isExpired(expiresAt: string, now: number = Date.now()): boolean {
  return now >= Date.parse(`${expiresAt}T00:00:00Z`) + DAY_MS;
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toPem(label: string, der: ArrayBuffer): string {
  const body = toBase64(new Uint8Array(der)).replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function fromPem(label: string, pem: string): Uint8Array<ArrayBuffer> | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`)
    .exec(pem);
  return m ? fromBase64(m[1].replace(/\s+/g, "")) : undefined;
}

/** A new Ed25519 key pair as PEM text: PKCS#8 private key and SPKI public key. */
export async function generateKeyPair(): Promise<{ privatePem: string; publicPem: string }> {
  const pair = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return {
    privatePem: toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
    publicPem: toPem("PUBLIC KEY", await crypto.subtle.exportKey("spki", pair.publicKey)),
  };
}

/** Imports a PKCS#8 PEM private key; throws `TypeError` with a sentence when it is not one. */
export async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = fromPem("PRIVATE KEY", pem);
  if (!der) throw new TypeError("The private key is not a PKCS#8 PEM block");
  try {
    return await crypto.subtle.importKey("pkcs8", der, "Ed25519", false, ["sign"]);
  } catch {
    throw new TypeError("The private key is not an Ed25519 key");
  }
}

/** Imports an SPKI PEM public key; throws `TypeError` with a sentence when it is not one. */
export async function importPublicKey(pem: string): Promise<CryptoKey> {
  const der = fromPem("PUBLIC KEY", pem);
  if (!der) throw new TypeError("The public key is not an SPKI PEM block");
  try {
    return await crypto.subtle.importKey("spki", der, "Ed25519", false, ["verify"]);
  } catch {
    throw new TypeError("The public key is not an Ed25519 key");
  }
}

/** Signs license terms; returns the license file's content. */
export async function signLicense(
  terms: LicenseTerms,
  privateKey: CryptoKey,
): Promise<LicenseFile> {
  const signature = await crypto.subtle.sign("Ed25519", privateKey, canonicalTerms(terms));
  return { ...terms, signature: toBase64(new Uint8Array(signature)) };
}

/**
 * Verifies license file text with a public key. Returns the terms, or a sentence saying why the
 * file cannot be trusted.
 */
export async function verifyLicenseText(
  text: string,
  publicKey: CryptoKey,
): Promise<{ ok: true; terms: LicenseTerms } | { ok: false; error: string }> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "The license file is not valid JSON" };
  }
  const checked = validateTerms(value);
  if (!checked.ok) return checked;
  const signatureText = (value as Record<string, unknown>).signature;
  const signature = typeof signatureText === "string" ? fromBase64(signatureText) : undefined;
  if (!signature || signature.length !== 64) {
    return { ok: false, error: "The license signature is missing or not 64 bytes of base64" };
  }
  const good = await crypto.subtle.verify(
    "Ed25519",
    publicKey,
    signature,
    canonicalTerms(checked.terms),
  );
  if (!good) {
    return { ok: false, error: "The license signature does not match its contents" };
  }
  return checked;
}

async function readSmallText(path: string): Promise<string | undefined> {
  try {
    const { size } = await Deno.stat(path);
    if (size > MAX_LICENSE_FILE_BYTES) {
      throw new RangeError(`The file ${path} is larger than ${MAX_LICENSE_FILE_BYTES} bytes`);
    }
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The status of a license file that grants nothing: `present` or not, and `reason` why. */
export function refusedDog(present: boolean, reason: string): DogStatus {
  return { present, valid: false, expired: false, customer: "", seats: 0, expiresAt: "", reason };
}

/**
 * Reads and verifies `<dataDir>/license.json` with `<dataDir>/license.pub`. Never throws: a
 * missing, unreadable, malformed, tampered or expired file gives a status with a `reason`.
 */
export async function checkLicense(
  options: { dataDir: string; now?: number },
): Promise<DogStatus> {
  const paths = licensePaths(options.dataDir);
  let text: string | undefined;
  try {
    text = await readSmallText(paths.json);
  } catch (error) {
    return refusedDog(true, `The license file cannot be read: ${(error as Error).message}`);
  }
  if (text === undefined) return refusedDog(false, `The license file ${paths.json} is missing`);
  let pubText: string | undefined;
  try {
    pubText = await readSmallText(paths.pub);
  } catch (error) {
    return refusedDog(true, `The public key cannot be read: ${(error as Error).message}`);
  }
  if (pubText === undefined) return refusedDog(true, `The public key ${paths.pub} is missing`);
  let publicKey: CryptoKey;
  try {
    publicKey = await importPublicKey(pubText);
  } catch (error) {
    return refusedDog(true, (error as Error).message);
  }
  const verified = await verifyLicenseText(text, publicKey);
  if (!verified.ok) return refusedDog(true, verified.error);
  return withExpiry({ present: true, valid: true, expired: false, ...verified.terms }, options.now);
}

/** The status re-evaluated for expiry at `now`: the file is verified once, time moves on. */
export function withExpiry(status: DogStatus, now: number = Date.now()): DogStatus {
  if (!status.valid) return status;
  const expired = isExpired(status.expiresAt, now);
  const { reason: _reason, ...rest } = status;
  return expired
    ? { ...rest, expired, reason: `The license expired after ${status.expiresAt}` }
    : { ...rest, expired };
}

/** Seats the license grants now: its seat count when valid and unexpired, otherwise 0. */
export function usableSeats(status: DogStatus): number {
  return status.valid && !status.expired ? status.seats : 0;
}
