/**
 * Tests that need a program installed here (node, nats-server, chromium, openssl). Without it
 * such a test is registered as ignored, with a line saying why, never passed; under CI (`CI` set)
 * a missing program fails the test instead.
 *
 * @example
 * ```ts ignore
 * const node = requireTool({ name: "node", found: onPath("node"), install: "apt-get install nodejs" });
 * Deno.test({ name: "runs on Node", ignore: node.ignore, fn() { node.check(); } });
 * ```
 * @module
 */

/** Whether CI is set: then every test must run, and a missing program fails. */
export function inCI(): boolean {
  const ci = (Deno.env.get("CI") ?? "").toLowerCase();
  return ci !== "" && ci !== "false" && ci !== "0";
}

/** Whether `command` runs here (with `--version` unless other args are given) and succeeds. */
export function onPath(command: string, args: string[] = ["--version"]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** What a test that needs a program passes to `Deno.test` and checks first. */
export interface RequiredTool {
  /** The test's `ignore`: true only when the program is missing and CI is not set. */
  ignore: boolean;
  /** Throws, saying what to install, when the program is missing (reached only under CI). */
  check(): void;
}

/** Options of {@linkcode requireTool}. */
export interface RequireToolOptions {
  /** The program's name, as said in the lines printed. */
  name: string;
  /** Whether it was found here. */
  found: boolean;
  /** How to install it, e.g. "apt-get install nats-server". */
  install: string;
}

const told = new Set<string>();

/**
 * A program the tests of one module need. When it is missing outside CI, prints once per
 * program "ignored: …" with how to install it, and `ignore` is true.
 */
export function requireTool(options: RequireToolOptions): RequiredTool {
  const { name, found, install } = options;
  const ignore = !found && !inCI();
  if (ignore && !told.has(name)) {
    told.add(name);
    console.log(`ignored: ${name} is not installed here (${install})`);
  }
  return {
    ignore,
    check() {
      if (!found) throw new Error(`${name} is required in CI but is not installed (${install})`);
    },
  };
}
