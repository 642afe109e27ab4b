/**
 * `deno task cluster`: a local demo of every service as N instances (issue 16) under the
 * supervisor: a `nats-server` with JetStream and authentication (nats_auth.ts), PostgreSQL for
 * the accounts when it is installed (local_postgres.ts; SQLite's shared file otherwise), two gates
 * joined over NATS, a login and a group instance on each gate (cluster_plan.ts), and the license
 * server once. Point `--nats` (and `--cluster-creds`) at an existing NATS server to skip starting
 * one. SIGINT or SIGTERM stops every child, then PostgreSQL (`pg_ctl stop -m fast`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { printFlagError } from "../flag_error.ts";
import { createLogger, type Logger } from "../log.ts";
import { installFaultHandlers } from "../process_faults.ts";
import { CLUSTER_GATES, clusterGateSpec, gateServiceSpecs, serviceFlags } from "./cluster_plan.ts";
import { findPostgres, type LocalPostgres, startLocalPostgres } from "./local_postgres.ts";
import { portFlag } from "./config.ts";
import { ended, GATE_LISTENING, listenForSignals, SUPERVISOR_FAULT_POLICY } from "./main.ts";
import { prepareNatsAuth } from "./nats_auth.ts";
import { parseStartLimit, START_LIMIT_HELP } from "./start_limit.ts";
import { licenseSpec } from "./suite.ts";
import { Supervisor } from "./supervisor.ts";

const HELP =
  `Gatehouse cluster demo: nats-server, PostgreSQL (when installed), two gates, a login and a
group instance on each, and the license server.

Usage: deno task cluster [flags]

  --data-dir DIR     data of every process (./data/cluster)
  --host HOST        address the gates and the license server listen on (127.0.0.1)
  --port N           gate A's HTTP + WebSocket port; gate B takes N+2 (8080)
  --tcp-port N       gate A's framed-TCP port; gate B takes N+2 (8081)
  --license-port N   the license server's port (8090)
  --nats-port N      port of the nats-server started here (4222)
  --nats URL         use this NATS server (JetStream on) instead of starting one
  --cluster-creds F  the gates' credentials for --nats (generated for the NATS started here)
  --store S          the accounts store: auto (PostgreSQL when installed, else SQLite),
                     postgres or sqlite (auto)
  --pg-port N        the port of the PostgreSQL started here (a free one)
${START_LIMIT_HELP}
  --help             this text

PostgreSQL is Debian's postgresql package (/usr/lib/postgresql/*/bin), made with initdb in
DIR/postgres/data on first start and run by the postgres user (when run as root): it listens
on 127.0.0.1 alone and asks for a password there (kept in DIR/postgres.json, mode 0600). Both
login instances use it with --db. Without it they share the SQLite file DIR/login.sqlite.
`;

const STORES = ["auto", "postgres", "sqlite"] as const;

/** A port flag, checked; `fallback` when absent. */
function port(name: string, value: string | undefined, fallback: number): number {
  return portFlag(name, value) ?? fallback;
}

/** The parsed flags; `undefined` after printing the help. Throws a sentence on a bad flag. */
function parseClusterArgs(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "tcp-port": { type: "string" },
      "license-port": { type: "string" },
      "nats-port": { type: "string" },
      nats: { type: "string" },
      "cluster-creds": { type: "string" },
      store: { type: "string" },
      "pg-port": { type: "string" },
      "start-limit-burst": { type: "string" },
      "start-limit-interval-s": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;
  const store = values.store ?? "auto";
  if (!STORES.includes(store as typeof STORES[number])) {
    throw new TypeError(
      `Flag --store must be one of ${STORES.join(", ")}, not ${JSON.stringify(store)}`,
    );
  }
  const dataDir = values["data-dir"] ?? "./data/cluster";
  return {
    dataDir: dataDir.startsWith("/") ? dataDir : `${Deno.cwd()}/${dataDir.replace(/^\.\//, "")}`,
    host: values.host ?? "127.0.0.1",
    port: port("port", values.port, 8080),
    tcpPort: port("tcp-port", values["tcp-port"], 8081),
    licensePort: port("license-port", values["license-port"], 8090),
    natsPort: port("nats-port", values["nats-port"], 4222),
    nats: values.nats,
    creds: values["cluster-creds"],
    store: store as typeof STORES[number],
    pgPort: port("pg-port", values["pg-port"], 0),
    startLimit: parseStartLimit({
      burst: values["start-limit-burst"],
      intervalS: values["start-limit-interval-s"],
    }),
  };
}

/** The demo's flags, parsed. */
type ClusterFlags = NonNullable<ReturnType<typeof parseClusterArgs>>;

/**
 * PostgreSQL for the accounts when `store` allows it, it is installed and login takes `--db`;
 * `undefined` (SQLite) otherwise, with one line saying which and why. Throws when `store` is
 * `postgres` and it cannot run.
 */
async function accountsStore(options: {
  store: typeof STORES[number];
  loginDb: boolean;
  dataDir: string;
  pgPort: number;
  log: Logger;
}): Promise<LocalPostgres | undefined> {
  const { log } = options;
  const sqlite = (reason: string) => {
    log.info("accounts", { store: "sqlite", file: `${options.dataDir}/login.sqlite`, reason });
    return undefined;
  };
  if (options.store === "sqlite") return sqlite("--store sqlite");
  const binDir = await findPostgres();
  let reason: string | undefined;
  if (!binDir) reason = "PostgreSQL is not installed (apt-get install postgresql)";
  else if (!options.loginDb) reason = "this checkout's login service has no --db flag yet";
  if (reason) {
    if (options.store === "postgres") throw new Error(`--store postgres: ${reason}`);
    return sqlite(reason);
  }
  try {
    const pg = await startLocalPostgres({
      binDir: binDir!,
      dataDir: options.dataDir,
      log,
      port: options.pgPort,
    });
    log.info("accounts", { store: "postgres", url: pg.safeUrl });
    return pg;
  } catch (error) {
    if (options.store === "postgres") throw error;
    log.warn("postgres not started", { reason: (error as Error).message });
    return sqlite("PostgreSQL did not start");
  }
}

/** Runs the demo until SIGINT or SIGTERM (0), or until a child is given up (1). */
export async function main(args: string[]): Promise<number> {
  let flags: ReturnType<typeof parseClusterArgs>;
  try {
    flags = parseClusterArgs(args);
  } catch (error) {
    printFlagError((error as Error).message);
    return 2;
  }
  if (!flags) {
    console.log(HELP);
    return 0;
  }
  const log = createLogger("cluster");
  const { dataDir, host } = flags;
  await Deno.mkdir(dataDir, { recursive: true });
  const supervisor = new Supervisor({
    log,
    pidFile: `${dataDir}/gatehouse.pid`,
    startLimit: flags.startLimit,
  });
  let pg: LocalPostgres | undefined;
  installFaultHandlers({
    log,
    policy: SUPERVISOR_FAULT_POLICY,
    beforeExit: async () => {
      await supervisor.fail("an uncaught exception in the supervisor");
      await pg?.stop();
    },
  });
  // Signals first, so that they stop the demo in every state (main.ts).
  listenForSignals(supervisor, log);
  try {
    return ended(await run(flags));
  } finally {
    await pg?.stop();
  }

  async function run(flags: ClusterFlags): Promise<{ code: number; reason?: string }> {
    // Ending a stale process may take its grace period; a signal meanwhile ends the wait.
    await Promise.race([supervisor.claimPidFile(), supervisor.done]);
    if (supervisor.stopping) return await supervisor.done;

    let nats = flags.nats;
    let creds = flags.creds;
    if (!nats) {
      nats = `nats://127.0.0.1:${flags.natsPort}`;
      try {
        await new Deno.Command("nats-server", { args: ["--version"], stdout: "null" }).output();
      } catch {
        await supervisor.fail(
          "nats-server is not installed: apt-get install nats-server, or pass --nats nats://host:port",
        );
        return await supervisor.done;
      }
      // JetStream and a password: an open NATS would let anyone forge user bindings.
      const auth = await prepareNatsAuth({
        dir: dataDir,
        host: "127.0.0.1",
        port: flags.natsPort,
      });
      creds = auth.credsPath;
      log.info("nats credentials", { config: auth.configPath, creds: auth.credsPath });
      const natsReady = await supervisor.add(
        {
          name: "nats",
          command: "nats-server",
          args: ["-c", auth.configPath],
          listens: [{ host: "127.0.0.1", port: flags.natsPort }],
        },
        /Server is ready/,
      );
      if (!natsReady) return await supervisor.done;
    }

    const takes = await serviceFlags();
    try {
      // Not raced against a stop signal: a PostgreSQL half started would be left behind. Once it
      // runs, main's finally stops it, whatever happens next.
      pg = await accountsStore({ ...flags, loginDb: takes.loginDb, log });
    } catch (error) {
      await supervisor.fail((error as Error).message);
      return await supervisor.done;
    }
    if (supervisor.stopping) return await supervisor.done;
    if (!takes.loginCluster) {
      log.info("login sessions", {
        shared: false,
        reason: "this checkout's login service has no --cluster flag yet: one session per instance",
      });
    }

    const gates: RegExpMatchArray[] = [];
    for (const [index, id] of CLUSTER_GATES.entries()) {
      const spec = clusterGateSpec({ ...flags, id, index, nats, creds });
      const ready = await supervisor.add(spec, GATE_LISTENING);
      if (!ready) return await supervisor.done;
      gates.push(ready);
    }
    // One login and one group instance per gate, linked over framed TCP (see main.ts). The
    // login instances start one after the other: the first makes the accounts store's schema.
    for (const [index, id] of CLUSTER_GATES.entries()) {
      const gateUrl = gates[index][2].replace("//0.0.0.0:", "//127.0.0.1:");
      const specs = gateServiceSpecs({
        gate: id,
        gateUrl,
        dataDir,
        takes,
        // The password goes in the environment, not on a command line every user can read.
        db: pg?.safeUrl,
        loginEnv: pg ? { PGPASSWORD: pg.password } : undefined,
        nats: { url: nats, creds },
      });
      for (const spec of specs) {
        if (spec.name.startsWith("login")) {
          const up = await supervisor.add(spec, /\bregistered\b/);
          if (!up) return await supervisor.done;
        } else {
          supervisor.add(spec);
        }
      }
    }
    // The license server stays one instance: its seats are one pool (README, "More than one
    // machine").
    supervisor.add(
      licenseSpec({ dataDir, host, port: 0, tcpPort: 0, licensePort: flags.licensePort }),
    );
    log.info("ready", {
      gates: gates.map((g) => g[1]).join(","),
      accounts: pg ? "postgres" : "sqlite",
    });
    console.log(`
Gatehouse cluster is up on NATS ${nats}:
  gate A  ${gates[0][1]}/   ${gates[0][2]}
  gate B  ${gates[1][1]}/   ${gates[1][2]}
  accounts in ${pg ? `PostgreSQL ${pg.safeUrl}` : `SQLite ${dataDir}/login.sqlite`}
A login and a group instance run on each gate; the license server runs once. Ctrl-C stops it.
`);
    return await supervisor.done;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
