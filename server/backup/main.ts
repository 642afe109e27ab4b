/**
 * `deno task backup --data-dir D --to DIR`: a consistent copy of a data dir while the suite runs.
 * The SQLite databases (`login.sqlite`, `license.sqlite`) are copied with SQLite's online backup
 * (`backup()` of `node:sqlite`), which reads a snapshot page by page while the services go on
 * writing: the copy holds every transaction committed before it finished, never half of one. The
 * small files (`sskey`, `license.json`, `license.pub`, `license.key`) are copied with their mode.
 * Each copy is written under a temporary name and renamed once whole; each database copy is then
 * opened and checked (`PRAGMA integrity_check`).
 *
 * `--to` must not exist or be empty, so that a backup never overwrites another. Exit codes: 0
 * done, 1 a copy failed (its reason on stderr), 2 bad flags.
 *
 * @example
 * ```ts
 * const copied = await backupDataDir({ dataDir: "./data", to: "/backup/2026-11-30" });
 * // [{ name: "login.sqlite", bytes: 81920, kind: "database" }, …]
 * ```
 * @module
 */

import { backup, DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { printFlagError } from "../flag_error.ts";
import { VERSION } from "../version.ts";

/** The databases of a data dir, copied with the online backup. */
export const DATABASES = ["login.sqlite", "license.sqlite"] as const;

/** The other files of a data dir worth keeping. */
export const FILES = ["sskey", "license.json", "license.pub", "license.key"] as const;

/** One file copied. */
export interface CopiedFile {
  name: string;
  kind: "database" | "file";
  bytes: number;
}

const HELP = `Gatehouse backup: a consistent copy of a data dir, while the suite runs.

Usage: deno task backup --data-dir DIR --to DIR

  --data-dir DIR   the suite's data dir (./data)
  --to DIR         where the copy goes: a folder that does not exist yet, or is empty
  --version        print the version
  --help           this text

login.sqlite and license.sqlite are copied with SQLite's online backup (the services go on
writing meanwhile); sskey and the license files are copied with their mode. Restore: stop the
suite, copy the files back into the data dir, start it.
`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Makes `to`, or checks that it is an empty folder; throws a sentence otherwise. */
async function prepareTarget(to: string): Promise<void> {
  if (!(await exists(to))) {
    await Deno.mkdir(to, { recursive: true, mode: 0o700 });
    return;
  }
  for await (const _ of Deno.readDir(to)) {
    throw new Error(`The backup folder ${to} is not empty: give a new one`);
  }
}

/** Copies one database with the online backup, then checks the copy. */
async function copyDatabase(source: string, target: string): Promise<number> {
  const db = new DatabaseSync(source, { readOnly: true });
  const temporary = `${target}.partial`;
  try {
    // busy_timeout: a writer's commit in progress is waited for, not failed on.
    db.exec("PRAGMA busy_timeout = 5000");
    await backup(db, temporary);
  } finally {
    db.close();
  }
  const copy = new DatabaseSync(temporary);
  try {
    const check = copy.prepare("PRAGMA integrity_check").get() as { integrity_check: string };
    if (check.integrity_check !== "ok") {
      throw new Error(`The copy of ${source} failed its integrity check: ${check.integrity_check}`);
    }
    // A single file: the copy carries no WAL.
    copy.exec("PRAGMA journal_mode = DELETE");
  } finally {
    copy.close();
  }
  await Deno.rename(temporary, target);
  await Deno.chmod(target, 0o600);
  return (await Deno.stat(target)).size;
}

/** Copies a small file with its mode. */
async function copyFile(source: string, target: string): Promise<number> {
  const temporary = `${target}.partial`;
  await Deno.copyFile(source, temporary);
  const mode = (await Deno.stat(source)).mode;
  if (mode !== null) await Deno.chmod(temporary, mode & 0o777);
  await Deno.rename(temporary, target);
  return (await Deno.stat(target)).size;
}

/**
 * Copies a data dir's databases (online backup) and files into `to`, which must not exist or be
 * empty. Files the data dir lacks are skipped; throws when it holds none of them.
 */
export async function backupDataDir(
  options: { dataDir: string; to: string },
): Promise<CopiedFile[]> {
  const from = options.dataDir.replace(/\/$/, "");
  const to = options.to.replace(/\/$/, "");
  if (!(await exists(from))) throw new Error(`The data dir ${from} does not exist`);
  await prepareTarget(to);
  const copied: CopiedFile[] = [];
  for (const name of DATABASES) {
    if (!(await exists(`${from}/${name}`))) continue;
    const bytes = await copyDatabase(`${from}/${name}`, `${to}/${name}`);
    copied.push({ name, kind: "database", bytes });
  }
  for (const name of FILES) {
    if (!(await exists(`${from}/${name}`))) continue;
    copied.push({ name, kind: "file", bytes: await copyFile(`${from}/${name}`, `${to}/${name}`) });
  }
  if (copied.length === 0) throw new Error(`The data dir ${from} holds nothing to back up`);
  return copied;
}

/** Runs the backup with the process's arguments; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "data-dir": { type: "string" },
        to: { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
    if (!values.help && !values.version && values.to === undefined) {
      throw new TypeError("Flag --to is missing: say where the copy goes");
    }
  } catch (error) {
    printFlagError((error as Error).message);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(`gatehouse ${VERSION}`);
    return 0;
  }
  const started = performance.now();
  try {
    const copied = await backupDataDir({ dataDir: values["data-dir"] ?? "./data", to: values.to! });
    for (const file of copied) console.log(`${file.name}\t${file.kind}\t${file.bytes} bytes`);
    console.log(
      `Backed up ${copied.length} files to ${values.to} in ${
        Math.round(performance.now() - started)
      } ms`,
    );
    return 0;
  } catch (error) {
    console.error(`Backup failed: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
