/**
 * The command-line run the license tasks share (`license:keygen`, `license:issue`,
 * `license:status`, and the server's `main.ts`): flags through `parseArgs` (strict, no
 * positionals) with `--help` and `--version`, and the exits: 2 for bad flags (the message and a
 * hint to run with `--help`, on stderr), 1 for a run that failed (its message on stderr).
 *
 * @example
 * ```ts
 * import { parseFlags, runOrExit } from "./cli.ts";
 * const values = parseFlags(Deno.args, { "data-dir": { type: "string", default: "./data" } }, HELP);
 * if (values) await runOrExit(async () => console.log(await work(values["data-dir"])));
 * ```
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { VERSION } from "../version.ts";
import { printFlagError } from "../flag_error.ts";

const HELP_FLAG = {
  help: { type: "boolean", default: false },
  version: { type: "boolean", default: false },
} as const;

/** The values `parseArgs` gives for `options` and `--help`. */
export type FlagValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: O & typeof HELP_FLAG;
    strict: true;
    allowPositionals: false;
  }>
>["values"];

/** Prints `message` and the hint to run with `--help` on stderr, and exits 2: the flags were wrong. */
export function usageError(message: string): never {
  printFlagError(message);
  Deno.exit(2);
}

/**
 * Parses `args` with `options`, `--help` and `--version`. With `--help`, prints `help` on stdout
 * and returns `undefined` (with `--version`, the version); a flag `parseArgs` refuses ends the
 * process through {@linkcode usageError}.
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  help: string,
): FlagValues<O> | undefined {
  let values: FlagValues<O>;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...options, ...HELP_FLAG },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    console.log(help);
    return undefined;
  }
  if ((values as { version?: boolean }).version) {
    console.log(`gatehouse ${VERSION}`);
    return undefined;
  }
  return values;
}

/** Runs `action`; when it throws, prints its message on stderr and exits 1. */
export async function runOrExit(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(1);
  }
}
