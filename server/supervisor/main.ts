/**
 * `deno task gate`: the whole suite under the supervisor: the gate, the login and group
 * services, and the license server, with data in `--data-dir`; or the part of it that
 * `--services` names, on a machine of a larger site. Prints the web page's URL.
 *
 * @module
 */

import { printFlagError } from "../flag_error.ts";
import { createLogger, type Logger, setLogDefaults } from "../log.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { VERSION } from "../version.ts";
import { gateFlags, loadSuiteConfig, logFlags, loginDb, type SuiteConfig } from "./config.ts";
import { START_LIMIT_HELP } from "./start_limit.ts";
import { serviceFlags } from "./cluster_plan.ts";
import type { ServiceName } from "./services.ts";
import { gateSpec, licenseSpec, serviceSpecs } from "./suite.ts";
import { Supervisor } from "./supervisor.ts";

const HELP = `Gatehouse: the gate, the login and group services and the license server, kept alive.

Usage: deno task gate [flags]

  --config FILE        a JSON config file (see gatehouse.example.json and the README); the
                       flags below win over it
  --data-dir DIR       data of every process, and the pid file gatehouse.pid (./data)
  --host HOST          address the gate and the license server listen on (127.0.0.1)
  --port N             the gate's HTTP + WebSocket port (8080)
  --tcp-port N         the gate's framed-TCP port (8081)
  --license-port N     the license server's port (8090)
  --cert FILE --key FILE   PEM certificate and key: the gate serves https://, wss:// and tls://
  --public-origin URL  the origin users open the page at (the gate's own http(s)://host:port)
  --allow-origin URL   a web origin allowed to open a WebSocket (repeatable; any when absent;
                       the page's own origin is always allowed)
  --trust-proxy ADDR   a reverse proxy's IP address: the gate believes its X-Forwarded-For
                       (repeatable; the header is ignored when absent)
  --rate N --burst N --max-message-bytes N --max-connections N --heartbeat-ms N
  --max-unsent-bytes N --request-timeout-ms N --max-inflight N --header-timeout-ms N
                       the gate's limits (deno task gate:only --help has their defaults)
  --log-format F       text or json log lines, for every process (text)
  --log-level L        debug, info, warn or error, for every process (info)
  --services LIST      the children to run on this machine, comma-separated, from gate, login,
                       group and license (all four)
  --gate URL           without gate in --services: the gate on another machine that login and
                       group link to, e.g. tcp://10.0.0.5:8081 (its sskey file copied into
                       --data-dir, or GATEHOUSE_SSKEY set on both machines)
  --db URL             the login service's accounts in PostgreSQL, postgres://user:pass@host/db,
                       shared by login instances on several machines (SQLite in --data-dir)
  --cluster URLS       cluster mode: the gate joins other gates over NATS, nats://host:port[,…]
                       (login and group get it too when they take it)
  --gate-id ID         this gate's id in the cluster (random)
  --cluster-creds FILE the NATS credentials (see the README, "More than one machine")
${START_LIMIT_HELP}
  --version            print the version
  --help               this text

A child that exits is restarted (0.5 s, doubling to 30 s; reset after 10 s of running). A child
that cannot start is named with its reason in one line ("gate cannot listen on 127.0.0.1:8080:
address in use"); after the start limit the supervisor stops every child and exits 1 with it.
SIGINT or SIGTERM stops every child and exits 0, in every state (a second one kills them at
once). SIGHUP (systemctl reload) is forwarded to the license server alone, which rereads its
license file; the other children keep running untouched. Each process also runs on its own: deno task gate:only | login | group | license.

The gate's /healthz is liveness; its /readyz answers 200 only while login and group each have a
link to it, from this machine or another (with --cluster, to any gate); 503 naming the missing
ones otherwise. /metrics is Prometheus text. The license server runs on one machine only: its
seats are one pool.
`;

/** Whether the gate takes --log-format and --log-level: it does (server/gate/main.ts). */
const GATE_TAKES_LOG_FLAGS = true;

/** The gate's `listening` line, text or JSON: its HTTP, TCP and WebSocket URLs. */
export const GATE_LISTENING =
  /gate(?: |","event":")listening(?: |",")http(?:=|":")([^\s"]+)(?: |",")tcp(?:=|":")([^\s"]+)(?: |",")ws(?:=|":")([^\s"]+)/;

/** The services that link to the gate: login and group. */
export const REQUIRED_SERVICES = "login,group";

/**
 * The services the gate's `/readyz` waits for: login and group, whatever this supervisor runs.
 * Alone, they link to this gate, from this machine or, with `--services`, from another one; in
 * cluster mode the gate counts their links on any gate it hears (README, `/readyz`), so a gate
 * whose services run behind another gate is ready once those are heard.
 */
export function requiredServices(): string[] {
  return REQUIRED_SERVICES.split(",");
}

/**
 * The supervisor's signals: SIGINT and SIGTERM stop it in every state, a child that cannot start
 * included (issue 14, point 5); SIGHUP (`systemctl reload`) goes to the license server alone,
 * which rereads its license file. Unheard, SIGHUP would end the supervisor (exit 129) and with it
 * the suite, and leave behind what runs in a session of its own (`deno task cluster`'s
 * PostgreSQL). Used by `deno task gate` and `deno task cluster`.
 */
export function listenForSignals(
  supervisor: Pick<Supervisor, "stop" | "forward">,
  log: Logger,
): void {
  const onSignal = (signal: Deno.Signal) => () => {
    log.info("signal", { signal });
    void supervisor.stop();
  };
  Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGHUP", () => {
      log.info("signal", { signal: "SIGHUP" });
      supervisor.forward("license", "SIGHUP");
    });
  }
}

/**
 * The supervisor's faults (server/process_faults.ts). A rejection nobody handled is contained:
 * the supervisor's asynchronous work is per child (a spawn, a pipe, a pid-file write), and one
 * child's fault leaves the others supervised. An exception thrown out of a callback stops every
 * child, then exits 1: the supervisor's own state is in doubt, and children left behind with no
 * one to restart them would be worse than a clean restart by whatever runs the supervisor.
 */
export const SUPERVISOR_FAULT_POLICY: FaultPolicy = { rejection: "continue", exception: "exit" };

/** Runs the suite until SIGINT or SIGTERM (0), or until a child is given up (1). */
export async function main(args: string[]): Promise<number> {
  let parsed: SuiteConfig;
  let gateArgs: string[];
  try {
    parsed = await loadSuiteConfig(args);
    gateArgs = gateFlags(parsed.options);
  } catch (error) {
    printFlagError((error as Error).message);
    return 2;
  }
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  if (parsed.version) {
    console.log(`gatehouse ${VERSION}`);
    return 0;
  }
  const options = parsed.options;
  setLogDefaults(options.log);
  const log = createLogger("supervisor");
  const supervisor = new Supervisor({
    log,
    pidFile: `${options.dataDir}/gatehouse.pid`,
    startLimit: parsed.startLimit,
  });
  installFaultHandlers({
    log,
    policy: SUPERVISOR_FAULT_POLICY,
    beforeExit: () => supervisor.fail("an uncaught exception in the supervisor"),
  });
  // Signals first: they stop the supervisor in every state, a child that cannot start included.
  listenForSignals(supervisor, log);
  await Deno.mkdir(options.dataDir, { recursive: true });
  log.info("starting", { pid: Deno.pid, dataDir: options.dataDir, version: VERSION });
  // Ending a stale process may take its grace period; a signal meanwhile ends the wait.
  await Promise.race([supervisor.claimPidFile(), supervisor.done]);
  if (supervisor.stopping) return ended(await supervisor.done);

  const childLog = logFlags(options.log);
  const run = new Set(options.services);
  log.info("services", {
    run: options.services.join(","),
    ...options.gate === undefined ? {} : { gate: options.gate },
  });
  let httpUrl: string | undefined;
  // Services link over framed TCP: Deno's WebSocket client leaves Nagle's algorithm on, which
  // stalls its messages of about 1 KB and more by ~40 ms (bench/FINDINGS.md, finding 1).
  let gateUrl = options.gate;
  if (run.has("gate")) {
    const required = requiredServices();
    const ready = await supervisor.add(
      gateSpec(options, [
        ...gateArgs,
        ...required.length > 0 ? ["--require-services", required.join(",")] : [],
        ...GATE_TAKES_LOG_FLAGS ? childLog : [],
      ]),
      GATE_LISTENING,
    );
    if (!ready) return ended(await supervisor.done);
    httpUrl = ready[1];
    // They reach the gate on loopback when it listens on every address; over TLS, at the public
    // origin's name when one is set, since that is the name the certificate carries.
    gateUrl = ready[2].replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//127.0.0.1:");
    if (options.tls && options.publicOrigin) {
      gateUrl = `tls://${new URL(options.publicOrigin).hostname}:${new URL(gateUrl).port}`;
    }
  }
  const extra: Record<string, string[]> = {};
  for (const name of ["login", "group", "license"] as const) {
    const port = options.metricsPorts[name];
    extra[name] = [
      ...childLog,
      ...port === undefined ? [] : ["--metrics-port", String(port), "--metrics-host", options.host],
    ];
  }
  const grace = options.group?.reconnectGraceMs;
  if (grace !== undefined) extra.group.push("--reconnect-grace-ms", String(grace));
  if (options.cluster && (run.has("login") || run.has("group"))) {
    // The services learn NATS flags of their own (a session registry…): pass them to those
    // that list them in their --help.
    const takes = await serviceFlags();
    const nats = [
      "--cluster",
      options.cluster.nats.join(","),
      ...options.cluster.creds ? ["--cluster-creds", options.cluster.creds] : [],
    ];
    if (takes.loginCluster) extra.login.push(...nats);
    if (takes.groupCluster) extra.group.push(...nats);
  }
  const db = options.loginDb === undefined ? undefined : loginDb(options.loginDb);
  if (db) extra.login.push(...db.args);
  if (gateUrl !== undefined) {
    for (const spec of serviceSpecs({ dataDir: options.dataDir, gateUrl, extra })) {
      if (!run.has(spec.name as ServiceName)) continue;
      if (spec.name === "login" && db) spec.env = db.env;
      supervisor.add(spec);
    }
  }
  if (run.has("license")) supervisor.add(licenseSpec(options, extra.license));
  if (httpUrl !== undefined) {
    log.info("ready", { web: `${httpUrl}/` });
  } else {
    log.info("ready", {
      services: options.services.join(","),
      ...gateUrl === undefined ? {} : { gate: gateUrl },
    });
  }
  // For a person at a terminal; JSON logs are for a collector, every line an object.
  if (options.log.format !== "json") {
    console.log(
      httpUrl !== undefined
        ? `\nGatehouse is up. Open ${httpUrl}/ in a browser. Ctrl-C stops it.\n`
        : `\nGatehouse ${options.services.join(", ")} up${
          gateUrl === undefined ? "" : `, linked to the gate at ${gateUrl}`
        }. Ctrl-C stops it.\n`,
    );
  }

  return ended(await supervisor.done);
}

/** The exit code, after a last line on stderr when the supervisor gave a child up. */
export function ended(end: { code: number; reason?: string }): number {
  if (end.reason) console.error(`Gatehouse stopped: ${end.reason}`);
  return end.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
