/**
 * `deno task gate`: the whole suite under the supervisor: the gate, the login and group
 * services, and the license server, with data in `--data-dir`. Prints the web page's URL.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createLogger } from "../log.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { parseStartLimit, START_LIMIT_HELP, type StartLimitOptions } from "./start_limit.ts";
import { gateSpec, licenseSpec, serviceSpecs, type SuiteOptions } from "./suite.ts";
import { Supervisor } from "./supervisor.ts";

const HELP = `Gatehouse: the gate, the login and group services and the license server, kept alive.

Usage: deno task gate [flags]

  --data-dir DIR       data of every process, and the pid file gatehouse.pid (./data)
  --host HOST          address the gate and the license server listen on (127.0.0.1)
  --port N             the gate's HTTP + WebSocket port (8080)
  --tcp-port N         the gate's framed-TCP port (8081)
  --license-port N     the license server's port (8090)
${START_LIMIT_HELP}
  --help               this text

A child that exits is restarted (0.5 s, doubling to 30 s; reset after 10 s of running). A child
that cannot start is named with its reason in one line ("gate cannot listen on 127.0.0.1:8080:
address in use"); after the start limit the supervisor stops every child and exits 1 with it.
SIGINT or SIGTERM stops every child and exits 0, in every state (a second one kills them at
once). Each process also runs on its own: deno task gate:only | login | group | license.
`;

function port(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new TypeError(
      `Flag --${name} must be a port from 0 to 65535, not ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** Parses the supervisor's flags. */
export function parseSupervisorArgs(
  args: string[],
): { help: boolean; options: SuiteOptions; startLimit: StartLimitOptions } {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "tcp-port": { type: "string" },
      "license-port": { type: "string" },
      "start-limit-burst": { type: "string" },
      "start-limit-interval-s": { type: "string" },
    },
    strict: true,
  });
  const dataDir = values["data-dir"] ?? "./data";
  return {
    help: values.help ?? false,
    options: {
      dataDir: dataDir.startsWith("/") ? dataDir : `${Deno.cwd()}/${dataDir.replace(/^\.\//, "")}`,
      host: values.host ?? "127.0.0.1",
      port: port("port", values.port, 8080),
      tcpPort: port("tcp-port", values["tcp-port"], 8081),
      licensePort: port("license-port", values["license-port"], 8090),
    },
    startLimit: parseStartLimit({
      burst: values["start-limit-burst"],
      intervalS: values["start-limit-interval-s"],
    }),
  };
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
  let parsed;
  try {
    parsed = parseSupervisorArgs(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  const options = parsed.options;
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
  // Signals first: SIGINT and SIGTERM stop the supervisor in every state, a child that cannot
  // start included (issue 14, point 5).
  const onSignal = (signal: Deno.Signal) => () => {
    log.info("signal", { signal });
    void supervisor.stop();
  };
  Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
  await Deno.mkdir(options.dataDir, { recursive: true });
  log.info("starting", { pid: Deno.pid, dataDir: options.dataDir });
  // Ending a stale process may take its grace period; a signal meanwhile ends the wait.
  await Promise.race([supervisor.claimPidFile(), supervisor.done]);
  if (supervisor.stopping) return ended(await supervisor.done);

  const ready = await supervisor.add(
    gateSpec(options),
    /gate listening http=(\S+) tcp=(\S+) ws=(\S+)/,
  );
  if (!ready) return ended(await supervisor.done);
  const [, httpUrl, tcpUrl] = ready;
  // Services link over framed TCP: Deno's WebSocket client leaves Nagle's algorithm on, which
  // stalls its messages of about 1 KB and more by ~40 ms (bench/FINDINGS.md, finding 1). They
  // reach the gate on loopback when it listens on every address.
  const gateUrl = tcpUrl.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//127.0.0.1:");
  for (const spec of serviceSpecs({ dataDir: options.dataDir, gateUrl })) supervisor.add(spec);
  supervisor.add(licenseSpec(options));
  log.info("ready", { web: `${httpUrl}/` });
  console.log(`\nGatehouse is up. Open ${httpUrl}/ in a browser. Ctrl-C stops it.\n`);

  return ended(await supervisor.done);
}

/** The exit code, after a last line on stderr when the supervisor gave a child up. */
export function ended(end: { code: number; reason?: string }): number {
  if (end.reason) console.error(`Gatehouse stopped: ${end.reason}`);
  return end.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
