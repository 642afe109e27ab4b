/**
 * `deno task gate`: the whole suite under the supervisor: the gate, the login and group
 * services, and the license server, with data in `--data-dir`. Prints the web page's URL.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createLogger } from "../log.ts";
import { gateSpec, licenseSpec, serviceSpecs, type SuiteOptions } from "./suite.ts";
import { Supervisor } from "./supervisor.ts";

const HELP = `Gatehouse: the gate, the login and group services and the license server, kept alive.

Usage: deno task gate [flags]

  --data-dir DIR       data of every process, and the pid file gatehouse.pid (./data)
  --host HOST          address the gate and the license server listen on (127.0.0.1)
  --port N             the gate's HTTP + WebSocket port (8080)
  --tcp-port N         the gate's framed-TCP port (8081)
  --license-port N     the license server's port (8090)
  --help               this text

A child that exits is restarted (0.5 s, doubling to 30 s; reset after 10 s of running).
SIGINT or SIGTERM stops every child and exits 0. Each process also runs on its own:
deno task gate:only | login | group | license.
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
export function parseSupervisorArgs(args: string[]): { help: boolean; options: SuiteOptions } {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "tcp-port": { type: "string" },
      "license-port": { type: "string" },
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
  };
}

/** Runs the suite until SIGINT or SIGTERM. */
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
  await Deno.mkdir(options.dataDir, { recursive: true });
  const supervisor = new Supervisor({ log, pidFile: `${options.dataDir}/gatehouse.pid` });
  log.info("starting", { pid: Deno.pid, dataDir: options.dataDir });
  await supervisor.claimPidFile();

  const stopped = new Promise<void>((resolve) => {
    const stop = () => supervisor.stop().then(resolve);
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });

  const ready = await supervisor.add(
    gateSpec(options),
    /gate listening http=(\S+) tcp=(\S+) ws=(\S+)/,
  );
  const [, httpUrl, tcpUrl] = ready!;
  // Services link over framed TCP: Deno's WebSocket client leaves Nagle's algorithm on, which
  // stalls its messages of about 1 KB and more by ~40 ms (bench/FINDINGS.md, finding 1). They
  // reach the gate on loopback when it listens on every address.
  const gateUrl = tcpUrl.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//127.0.0.1:");
  for (const spec of serviceSpecs({ dataDir: options.dataDir, gateUrl })) supervisor.add(spec);
  supervisor.add(licenseSpec(options));
  log.info("ready", { web: `${httpUrl}/` });
  console.log(`\nGatehouse is up. Open ${httpUrl}/ in a browser. Ctrl-C stops it.\n`);

  await stopped;
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
