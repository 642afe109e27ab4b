/**
 * A PostgreSQL of its own for `deno task cluster` (issue 16): Debian's `postgresql` package
 * (`/usr/lib/postgresql/<version>/bin`), a cluster made with `initdb` in `<data-dir>/postgres/`,
 * run by the `postgres` user when we are root (`runuser -u postgres --`; PostgreSQL refuses to
 * run as root) and by ourselves otherwise. It listens on 127.0.0.1 only, on a free port, and
 * asks for a password there (scram-sha-256; the password is generated once and kept in
 * `<data-dir>/postgres.json`, mode 0600); its Unix socket is in `<data-dir>/postgres/`, a folder
 * of mode 0700 that only its owner reaches. `pg_ctl` starts it in the background and
 * {@linkcode LocalPostgres.stop} ends it with `pg_ctl stop -m fast` (sessions cut, a clean
 * checkpoint).
 *
 * @example
 * ```ts ignore
 * const binDir = await findPostgres();
 * if (binDir) {
 *   const pg = await startLocalPostgres({ binDir, dataDir: "./data/cluster", log });
 *   console.log(pg.url); // postgres://gatehouse:…@127.0.0.1:41234/gatehouse
 *   await pg.stop();
 * }
 * ```
 * @module
 */

import type { Logger } from "../log.ts";

/** The database, and the role that owns it. */
export const POSTGRES_DATABASE = "gatehouse";

/** The settings file of each run, included by postgresql.conf. */
const GATEHOUSE_CONF = "gatehouse.conf";

/** The versions looked for under /usr/lib/postgresql, newest first after 15 (Debian 12's). */
const PREFERRED_VERSIONS = ["15", "17", "16", "14", "13"];

/** A PostgreSQL started by {@linkcode startLocalPostgres}. */
export interface LocalPostgres {
  /** `postgres://gatehouse:<password>@127.0.0.1:<port>/gatehouse`. */
  url: string;
  /**
   * The same without the password: for logs, and for `--db` with the password in `PGPASSWORD`
   * (a command line is visible to every user of the machine; an environment is not).
   */
  safeUrl: string;
  /** The role's password. */
  password: string;
  port: number;
  /** The cluster's folder (PGDATA). */
  dataDir: string;
  /** The postmaster's pid. */
  pid: number;
  /** `pg_ctl stop -m fast`; resolves when it has stopped. Never rejects. */
  stop(): Promise<void>;
}

/** The text of a finished command, and whether it succeeded. */
async function run(
  command: string,
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { ok: output.success, out: (decode(output.stdout) + decode(output.stderr)).trim() };
  } catch (error) {
    return { ok: false, out: (error as Error).message };
  }
}

/**
 * The `bin` folder of an installed PostgreSQL (one with `initdb` and `pg_ctl`), or `undefined`
 * when there is none.
 */
export async function findPostgres(root = "/usr/lib/postgresql"): Promise<string | undefined> {
  const versions: string[] = [];
  try {
    for await (const entry of Deno.readDir(root)) if (entry.isDirectory) versions.push(entry.name);
  } catch {
    return undefined;
  }
  versions.sort((a, b) => {
    const rank = (v: string) => {
      const i = PREFERRED_VERSIONS.indexOf(v);
      return i === -1 ? PREFERRED_VERSIONS.length : i;
    };
    return rank(a) - rank(b) || Number(b) - Number(a);
  });
  for (const version of versions) {
    const bin = `${root}/${version}/bin`;
    try {
      await Deno.stat(`${bin}/initdb`);
      await Deno.stat(`${bin}/pg_ctl`);
      return bin;
    } catch { /* not a full server install */ }
  }
  return undefined;
}

/** A port nobody listens on at 127.0.0.1 now. */
function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A random password of 24 bytes, hex (safe in a URL). */
function randomPassword(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(24)))
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Writes a file readable by its owner alone. */
async function writePrivate(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/** The password kept in `<dataDir>/postgres.json`, made on first use. */
async function keptPassword(dataDir: string): Promise<string> {
  const path = `${dataDir}/postgres.json`;
  try {
    const kept = JSON.parse(await Deno.readTextFile(path));
    if (kept.user === POSTGRES_DATABASE && typeof kept.password === "string") return kept.password;
  } catch { /* first start */ }
  const password = randomPassword();
  await writePrivate(path, JSON.stringify({ user: POSTGRES_DATABASE, password }) + "\n");
  return password;
}

/** Whether this process runs as root (`id -u`: Deno.uid() needs --allow-sys). */
async function isRoot(): Promise<boolean> {
  const id = await run("id", ["-u"]);
  return id.ok && id.out === "0";
}

/**
 * Starts (making it on first use) the PostgreSQL of `dataDir`, on `port` (a free one when 0 or
 * absent). A PostgreSQL of this folder still running from an earlier run that was killed is
 * stopped first. Throws an `Error` with a sentence when it cannot: no `postgres` user, a folder
 * the `postgres` user cannot reach, `initdb` or `pg_ctl` failing (with their last words).
 */
export async function startLocalPostgres(
  options: { binDir: string; dataDir: string; log: Logger; port?: number },
): Promise<LocalPostgres> {
  const { binDir, dataDir, log } = options;
  const home = `${dataDir}/postgres`;
  const pgData = `${home}/data`;
  const root = await isRoot();
  // As root, every PostgreSQL program runs as the postgres user; otherwise as ourselves.
  const as = (program: string, args: string[]) =>
    root
      ? run("runuser", ["-u", "postgres", "--", `${binDir}/${program}`, ...args])
      : run(`${binDir}/${program}`, args);
  await Deno.mkdir(home, { recursive: true, mode: 0o700 });
  if (root) {
    const chown = await run("chown", ["postgres:postgres", home]);
    if (!chown.ok) {
      throw new Error(`PostgreSQL needs the postgres user to own ${home}: ${chown.out}`);
    }
    const reach = await run("runuser", ["-u", "postgres", "--", "test", "-w", home]);
    if (!reach.ok) {
      throw new Error(
        `The postgres user cannot reach ${home}: every folder above it needs search permission ` +
          "for others (chmod o+x), or choose another --data-dir",
      );
    }
  }
  await Deno.chmod(home, 0o700);

  const password = await keptPassword(dataDir);
  let fresh = false;
  try {
    await Deno.stat(`${pgData}/PG_VERSION`);
  } catch {
    fresh = true;
  }
  if (fresh) {
    // initdb wants an empty or absent folder; the password file sits beside it for the moment.
    await Deno.remove(pgData, { recursive: true }).catch(() => {});
    const pwFile = `${home}/initdb-password`;
    await writePrivate(pwFile, `${password}\n`);
    if (root) await run("chown", ["postgres:postgres", pwFile]);
    const init = await as("initdb", [
      "-D",
      pgData,
      "-U",
      POSTGRES_DATABASE,
      `--pwfile=${pwFile}`,
      "--auth-host=scram-sha-256",
      "--auth-local=trust",
      "-E",
      "UTF8",
      "--no-instructions",
    ]);
    await Deno.remove(pwFile).catch(() => {});
    if (!init.ok) throw new Error(`initdb failed in ${pgData}: ${lastLine(init.out)}`);
    // Each run's settings come from gatehouse.conf, rewritten at every start.
    await Deno.writeTextFile(
      `${pgData}/postgresql.conf`,
      `\n# deno task cluster\ninclude_if_exists = '${GATEHOUSE_CONF}'\n`,
      { append: true },
    );
    log.info("postgres initialized", { dir: pgData });
  }

  const status = await as("pg_ctl", ["status", "-D", pgData]);
  if (status.ok) {
    log.warn("ending stale postgres", { dir: pgData });
    await as("pg_ctl", ["stop", "-D", pgData, "-m", "fast", "-w", "-t", "30"]);
  }
  const port = options.port || freeLoopbackPort();
  // Settings of this run: loopback only, this port, the socket in the 0700 folder.
  const settings = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${home.replaceAll("'", "''")}'`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${pgData}/${GATEHOUSE_CONF}`, settings);
  if (root) await run("chown", ["postgres:postgres", `${pgData}/${GATEHOUSE_CONF}`]);
  const logFile = `${home}/postgres.log`;
  const start = await as("pg_ctl", ["start", "-D", pgData, "-l", logFile, "-w", "-t", "60", "-s"]);
  if (!start.ok) {
    let last = start.out;
    try {
      last = (await Deno.readTextFile(logFile)).trim();
    } catch { /* no log yet */ }
    throw new Error(`PostgreSQL did not start on port ${port}: ${lastLine(last)}`);
  }
  const pid = Number((await Deno.readTextFile(`${pgData}/postmaster.pid`)).split("\n")[0]);
  // Where psql and createdb reach it: its socket folder, its port, as the database's owner.
  const reach = ["-h", home, "-p", String(port), "-U", POSTGRES_DATABASE];
  const psql = (sql: string) => as("psql", [...reach, "-d", "postgres", "-tAc", sql]);
  const exists = await psql(`SELECT 1 FROM pg_database WHERE datname = '${POSTGRES_DATABASE}'`);
  if (exists.ok && exists.out !== "1") {
    const made = await as("createdb", [...reach, POSTGRES_DATABASE]);
    if (!made.ok) log.warn("postgres database not created", { reason: lastLine(made.out) });
  }
  const safeUrl = `postgres://${POSTGRES_DATABASE}@127.0.0.1:${port}/${POSTGRES_DATABASE}`;
  log.info("postgres started", { pid, port, dir: pgData, url: safeUrl });
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://${POSTGRES_DATABASE}:${password}@127.0.0.1:${port}/${POSTGRES_DATABASE}`,
    safeUrl,
    password,
    port,
    dataDir: pgData,
    pid,
    stop() {
      stopped ??= (async () => {
        const stop = await as("pg_ctl", ["stop", "-D", pgData, "-m", "fast", "-w", "-t", "30"]);
        if (stop.ok) log.info("postgres stopped", { pid });
        else log.error("postgres did not stop", { pid, reason: lastLine(stop.out) });
      })();
      return stopped;
    },
  };
}

/** The last non-empty line of a program's output. */
function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}
