/**
 * `deno task license:issue --data-dir D --customer NAME --seats N --expires YYYY-MM-DD`: signs
 * `D/license.json` with `D/license.key`. The file is written whole (a temporary file renamed
 * into place), so that a server reloading on SIGHUP never reads half of it. An expiry date in the
 * past is allowed, with a warning (the file is then refused as expired).
 *
 * @module
 */

import { parseFlags, runOrExit, usageError } from "./cli.ts";
import {
  importPrivateKey,
  isExpired,
  type LicenseFile,
  licensePaths,
  signLicense,
  validateTerms,
} from "./license_file.ts";

const HELP =
  `Usage: deno task license:issue --data-dir DIR --customer NAME --seats N --expires YYYY-MM-DD

Signs DIR/license.json with DIR/license.key. The license is valid through the whole of its
expiry day (UTC).

Options:
  --data-dir DIR       Holds license.key; license.json is written there (default ./data)
  --customer NAME      Who the license is for
  --seats N            How many seats may be held at once
  --expires DATE       Last day of validity, YYYY-MM-DD
  --help               Show this help`;

/** Signs a license with `<dataDir>/license.key` and writes `<dataDir>/license.json`. */
export async function issueLicense(
  options: { dataDir: string; customer: string; seats: number; expiresAt: string },
): Promise<{ path: string; license: LicenseFile }> {
  const checked = validateTerms(options);
  if (!checked.ok) throw new TypeError(checked.error);
  const paths = licensePaths(options.dataDir);
  let pem: string;
  try {
    pem = await Deno.readTextFile(paths.key);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`The key ${paths.key} is missing; run deno task license:keygen first`);
    }
    throw error;
  }
  const license = await signLicense(checked.terms, await importPrivateKey(pem));
  const temp = `${paths.json}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, `${JSON.stringify(license, null, 2)}\n`, { mode: 0o644 });
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
  }, HELP);
  if (!values) return;
  const missing = (["customer", "seats", "expires"] as const).filter((name) =>
    values[name] === undefined
  );
  if (missing.length > 0) usageError(`Missing ${missing.map((m) => `--${m}`).join(", ")}`, HELP);
  const seats = /^\d+$/.test(values.seats!) ? Number(values.seats) : NaN;
  const terms = {
    dataDir: values["data-dir"],
    customer: values.customer!,
    seats,
    expiresAt: values.expires!,
  };
  const checked = validateTerms(terms);
  if (!checked.ok) {
    console.error(checked.error);
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
