/**
 * A real PostgreSQL server for the store tests, from Debian's `postgresql` package
 * (`/usr/lib/postgresql/<version>/bin`): `initdb` and `postgres` run as the `postgres` system user
 * (through `runuser`, since PostgreSQL refuses to run as root) in a temporary folder, on a free
 * loopback port, with password (SCRAM) authentication. Without PostgreSQL the tests are ignored
 * with a reason; under CI they fail (tests/helpers/tool.ts).
 *
 * @example
 * ```ts ignore
 * const pg = await startPostgres();
 * const url = await pg.createDatabase("conformance1");
 * await pg.stop();
 * ```
 * @module
 */

import { findPostgres } from "../../server/supervisor/local_postgres.ts";
import { freePorts } from "./suite.ts";
import { type RequiredTool, requireTool } from "./tool.ts";

/** The user and password the server is made with (for tests only). */
export const PG_USER = "gatehouse";
const PG_PASSWORD = "test-only-password";

/** A running PostgreSQL. */
export interface PostgresServer {
  port: number;
  /** The URL of the `postgres` database (for admin statements). */
  adminUrl: string;
  /** Creates an empty database; resolves with its URL (user and password in it). */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown), keeping its data and port: {@linkcode restart} brings it back. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port, with the same data. */
  restart(): Promise<void>;
  /** Stops the server (fast shutdown) and removes its folder. */
  stop(): Promise<void>;
}

/** The folder of PostgreSQL's programs, when installed (the newest version). */
export function postgresBinDir(): string | undefined {
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((entry) => entry.name)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const dir = `/usr/lib/postgresql/${version}/bin`;
      try {
        Deno.statSync(`${dir}/postgres`);
        Deno.statSync(`${dir}/initdb`);
        return dir;
      } catch { /* not this one */ }
    }
  } catch { /* not installed */ }
  return undefined;
}

function canRunAsPostgres(): boolean {
  try {
    return new Deno.Command("runuser", {
      args: ["-u", "postgres", "--", "true"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** PostgreSQL for the store tests: their `ignore`, and the check that fails them in CI. */
export function postgresTool(): RequiredTool {
  return requireTool({
    name: "postgresql",
    found: postgresBinDir() !== undefined && Deno.uid() === 0 && canRunAsPostgres(),
    install: "apt-get install postgresql, and run the tests as root so that they can start it " +
      "as the postgres user",
  });
}

async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<void> {
  const out = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${command} ${args.join(" ")} failed:\n${text}`);
  }
}

/**
 * Starts a fresh PostgreSQL on a free loopback port; resolves once it takes connections. Tests run
 * it with `fsync` off (faster, and its data is thrown away); `fsync: true` keeps it on (benchmarks).
 */
export async function startPostgres(options: { fsync?: boolean } = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_pg_" });
  await Deno.chmod(dir, 0o700);
  await Deno.writeTextFile(`${dir}/pwfile`, PG_PASSWORD);
  await run("chown", ["-R", "postgres:postgres", dir]);
  const data = `${dir}/data`;
  const asPostgres = (
    program: string,
    args: string[],
  ) => ["-u", "postgres", "--", `${bin}/${program}`, ...args];
  await run(
    "runuser",
    asPostgres("initdb", [
      "-D",
      data,
      "-U",
      PG_USER,
      `--pwfile=${dir}/pwfile`,
      "--auth=scram-sha-256",
      "-E",
      "UTF8",
      "--no-sync",
    ]),
  );
  const [port] = freePorts(1);
  let child = await launch();
  async function launch(): Promise<Deno.ChildProcess> {
    const child = new Deno.Command("runuser", {
      args: asPostgres("postgres", [
        "-D",
        data,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        `unix_socket_directories=${dir}`,
        "-c",
        `fsync=${options.fsync ? "on" : "off"}`,
        "-c",
        "max_connections=200",
      ]),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = Date.now() + 30_000;
    while (!seen.includes("ready to accept connections")) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not start:\n${seen}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`PostgreSQL exited:\n${seen}`);
      seen += value;
    }
    // Keep draining so the pipe never fills.
    (async () => {
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch { /* closed */ }
    })();
    return child;
  }
  let halted = false;
  const fastStop = async () => {
    // runuser does not pass SIGINT on, and SIGTERM is PostgreSQL's smart shutdown (it waits for
    // every client): ask pg_ctl for a fast one, which ends the sessions.
    try {
      await run("runuser", asPostgres("pg_ctl", ["stop", "-D", data, "-m", "fast", "-w"]));
    } catch {
      child.kill("SIGKILL");
    }
    await child.status;
  };
  const base = `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}`;
  const adminUrl = `${base}/postgres`;
  return {
    port,
    adminUrl,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) throw new TypeError(`Bad database name ${name}`);
      // psql over the server's Unix socket (no npm client here: the benchmark imports this file).
      await run(
        "runuser",
        asPostgres("psql", [
          "-h",
          dir,
          "-p",
          String(port),
          "-U",
          PG_USER,
          "-d",
          "postgres",
          "-v",
          "ON_ERROR_STOP=1",
          "-q",
          "-c",
          `CREATE DATABASE ${name}`,
        ]),
        { PGPASSWORD: PG_PASSWORD },
      );
      return `${base}/${name}`;
    },
    async halt(): Promise<void> {
      if (halted) return;
      halted = true;
      await fastStop();
    },
    async restart(): Promise<void> {
      if (!halted) return;
      child = await launch();
      halted = false;
    },
    async stop(): Promise<void> {
      if (!halted) await fastStop();
      halted = true;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * PostgreSQL as the supervisor finds it (`findPostgres` of server/supervisor/local_postgres.ts,
 * which starts it itself): the folder of its programs, and the tests' `ignore` and the check
 * that fails them in CI when it is missing.
 */
export async function localPostgresTool(): Promise<{ binDir?: string; tool: RequiredTool }> {
  const binDir = await findPostgres();
  const tool = requireTool({
    name: "PostgreSQL",
    found: binDir !== undefined,
    install: "apt-get install postgresql",
  });
  return { binDir, tool };
}
