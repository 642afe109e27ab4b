/**
 * `deno task license:issue --data-dir D --customer NAME --seats N --expires YYYY-MM-DD`: signs
 * `D/license.json` with `D/license.key`. The new file is written to a temporary file, verified
 * with `D/license.pub`, and only then renamed into place: a server reloading on SIGHUP never reads
 * half of it, and a license that does not verify (a key pair that does not match, a bad write)
 * never replaces the file there. An expiry date in the past is refused unless `--force` is given
 * (the file is then refused by the server as expired).
 *
 * @module
 */

import { parseFlags, runOrExit, usageError } from "./cli.ts";
import {
  importPrivateKey,
  importPublicKey,
  isExpired,
  type LicenseFile,
  licensePaths,
  signLicense,
  validateTerms,
  verifyLicenseText,
} from "./license_file.ts";

const HELP =
  `Usage: deno task license:issue --data-dir DIR --customer NAME --seats N --expires YYYY-MM-DD

Signs DIR/license.json with DIR/license.key. The license is valid through the whole of its
expiry day (UTC).

Options:
  --data-dir DIR       Holds license.key; license.json is written there (default ./data)
  --customer NAME      Who the license is for
  --seats N            How many seats may be held at once
  --expires DATE       Last day of validity, YYYY-MM-DD (not in the past unless --force)
  --force              Issue a license that has already expired (for tests)
  --version            Print the version
  --help               Show this help`;

/** Options of {@linkcode issueLicense}. */
export interface IssueOptions {
  /** Holds license.key and license.pub; license.json is written there. */
  dataDir: string;
  /** Who the license is for. */
  customer: string;
  /** How many seats may be held at once. */
  seats: number;
  /** Last day of validity, `YYYY-MM-DD` (UTC). */
  expiresAt: string;
  /** Issue it even when the expiry date is already past. */
  force?: boolean;
}

/** The sentence refusing an expiry date in the past, or undefined when it is not past. */
export function pastExpiryError(expiresAt: string, now: number = Date.now()): string | undefined {
  return isExpired(expiresAt, now)
    ? `The expiry date ${expiresAt} is in the past; pass --force to issue an expired license`
    : undefined;
}

async function readKey(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`The ${what} ${path} is missing; run deno task license:keygen first`);
    }
    throw error;
  }
}

/**
 * Signs a license with `<dataDir>/license.key` and writes `<dataDir>/license.json`: to a
 * temporary file first, verified with `<dataDir>/license.pub`, then renamed into place. Throws
 * `TypeError` for bad terms (or a past expiry without `force`), `Error` when the new file does
 * not verify; the file already there is then left as it was.
 */
export async function issueLicense(
  options: IssueOptions,
): Promise<{ path: string; license: LicenseFile }> {
  const checked = validateTerms(options);
  if (!checked.ok) throw new TypeError(checked.error);
  const past = pastExpiryError(checked.terms.expiresAt);
  if (past && !options.force) throw new TypeError(past);
  const paths = licensePaths(options.dataDir);
  const privateKey = await importPrivateKey(await readKey(paths.key, "key"));
  const publicKey = await importPublicKey(await readKey(paths.pub, "public key"));
  const license = await signLicense(checked.terms, privateKey);
  const temp = `${paths.json}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, `${JSON.stringify(license, null, 2)}\n`, { mode: 0o644 });
    const verified = await verifyLicenseText(await Deno.readTextFile(temp), publicKey);
    if (!verified.ok) {
      throw new Error(
        `The new license does not verify with ${paths.pub} (${verified.error}), so ${paths.json} was left as it was`,
      );
    }
    await Deno.rename(temp, paths.json);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  return { path: paths.json, license };
}

async function main(): Promise<void> {
  const values = parseFlags(Deno.args, {
    "data-dir": { type: "string", default: "./data" },
    customer: { type: "string" },
    seats: { type: "string" },
    expires: { type: "string" },
    force: { type: "boolean", default: false },
  }, HELP);
  if (!values) return;
  const missing = (["customer", "seats", "expires"] as const).filter((name) =>
    values[name] === undefined
  );
  if (missing.length > 0) usageError(`Missing ${missing.map((m) => `--${m}`).join(", ")}`);
  const seats = /^\d+$/.test(values.seats!) ? Number(values.seats) : NaN;
  const terms = {
    dataDir: values["data-dir"],
    customer: values.customer!,
    seats,
    expiresAt: values.expires!,
    force: values.force,
  };
  const checked = validateTerms(terms);
  const refusal = checked.ok
    ? (values.force ? undefined : pastExpiryError(checked.terms.expiresAt))
    : checked.error;
  if (refusal) {
    console.error(refusal);
    Deno.exit(2);
  }
  await runOrExit(async () => {
    const { path, license } = await issueLicense(terms);
    if (isExpired(license.expiresAt)) {
      console.error(`Warning: the license expired after ${license.expiresAt} already`);
    }
    console.log(
      `Wrote ${path}: ${license.customer}, ${license.seats} seats, valid through ${license.expiresAt}`,
    );
  });
}

if (import.meta.main) await main();
