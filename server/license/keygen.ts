/**
 * `deno task license:keygen --data-dir D`: makes the vendor's Ed25519 key pair,
 * `D/license.key` (PKCS#8 PEM, mode 0600) and `D/license.pub` (SPKI PEM). It refuses to replace
 * an existing key unless `--force` is given: licenses signed with the old key stop verifying.
 *
 * @module
 */

import { parseFlags, runOrExit } from "./cli.ts";
import { generateKeyPair, licensePaths } from "./license_file.ts";

const HELP = `Usage: deno task license:keygen --data-dir DIR [--force]

Makes an Ed25519 key pair for signing license files:
  DIR/license.key   the private key (mode 0600): the vendor keeps it
  DIR/license.pub   the public key: the license server verifies with it

Options:
  --data-dir DIR   Where to write the keys (default ./data)
  --force          Replace an existing key pair
  --version        Print the version
  --help           Show this help`;

/** Writes a new key pair into `dataDir`; returns the paths written. */
export async function writeKeyPair(
  options: { dataDir: string; force?: boolean },
): Promise<{ key: string; pub: string }> {
  const paths = licensePaths(options.dataDir);
  await Deno.mkdir(options.dataDir, { recursive: true });
  const { privatePem, publicPem } = await generateKeyPair();
  if (options.force) {
    await Deno.remove(paths.key).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  try {
    await Deno.writeTextFile(paths.key, privatePem, { createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Error(`The key ${paths.key} already exists; pass --force to replace it`);
    }
    throw error;
  }
  await Deno.chmod(paths.key, 0o600);
  await Deno.writeTextFile(paths.pub, publicPem, { mode: 0o644 });
  return { key: paths.key, pub: paths.pub };
}

async function main(): Promise<void> {
  const values = parseFlags(Deno.args, {
    "data-dir": { type: "string", default: "./data" },
    force: { type: "boolean", default: false },
  }, HELP);
  if (!values) return;
  await runOrExit(async () => {
    const written = await writeKeyPair({ dataDir: values["data-dir"], force: values.force });
    console.log(`Wrote ${written.key} (keep it secret) and ${written.pub}`);
  });
}

if (import.meta.main) await main();
