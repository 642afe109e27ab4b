/**
 * `deno task cluster`: a local demo of cluster mode under the supervisor: a `nats-server` with
 * JetStream and authentication (nats_auth.ts), two gates joined over it, and the login and group
 * services (on gate A; clients of either gate reach them). Point `--nats` (and
 * `--cluster-creds`) at an existing NATS server to skip starting one.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createLogger } from "../log.ts";
import { installFaultHandlers } from "../process_faults.ts";
import { ended, SUPERVISOR_FAULT_POLICY } from "./main.ts";
import { prepareNatsAuth } from "./nats_auth.ts";
import { parseStartLimit, START_LIMIT_HELP } from "./start_limit.ts";
import { gateSpec, serviceSpecs } from "./suite.ts";
import { Supervisor } from "./supervisor.ts";

const HELP = `Gatehouse cluster demo: nats-server, two gates, login and group.

Usage: deno task cluster [flags]

  --data-dir DIR     data of every process (./data/cluster)
  --host HOST        address the gates listen on (127.0.0.1)
  --port N           gate A's HTTP + WebSocket port; gate B takes N+2 (8080)
  --tcp-port N       gate A's framed-TCP port; gate B takes N+2 (8081)
  --nats-port N      port of the nats-server started here (4222)
  --nats URL         use this NATS server (JetStream on) instead of starting one
  --cluster-creds F  the gates' credentials for --nats (generated for the NATS started here)
${START_LIMIT_HELP}
  --help             this text
`;

/** Runs the demo until SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "tcp-port": { type: "string" },
      "nats-port": { type: "string" },
      nats: { type: "string" },
      "cluster-creds": { type: "string" },
      "start-limit-burst": { type: "string" },
      "start-limit-interval-s": { type: "string" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const log = createLogger("cluster");
  const dataDir = values["data-dir"] ?? "./data/cluster";
  const absolute = dataDir.startsWith("/")
    ? dataDir
    : `${Deno.cwd()}/${dataDir.replace(/^\.\//, "")}`;
  await Deno.mkdir(absolute, { recursive: true });
  const host = values.host ?? "127.0.0.1";
  const port = Number(values.port ?? 8080);
  const tcpPort = Number(values["tcp-port"] ?? 8081);
  const natsPort = Number(values["nats-port"] ?? 4222);
  const supervisor = new Supervisor({
    log,
    pidFile: `${absolute}/gatehouse.pid`,
    startLimit: parseStartLimit({
      burst: values["start-limit-burst"],
      intervalS: values["start-limit-interval-s"],
    }),
  });
  installFaultHandlers({
    log,
    policy: SUPERVISOR_FAULT_POLICY,
    beforeExit: () => supervisor.fail("an uncaught exception in the supervisor"),
  });
  // Signals first, so that they stop the demo in every state (see main.ts).
  Deno.addSignalListener("SIGINT", () => void supervisor.stop());
  Deno.addSignalListener("SIGTERM", () => void supervisor.stop());
  // Ending a stale process may take its grace period; a signal meanwhile ends the wait.
  await Promise.race([supervisor.claimPidFile(), supervisor.done]);
  if (supervisor.stopping) return ended(await supervisor.done);

  let nats = values.nats;
  let creds = values["cluster-creds"];
  if (!nats) {
    nats = `nats://127.0.0.1:${natsPort}`;
    try {
      await new Deno.Command("nats-server", { args: ["--version"], stdout: "null" }).output();
    } catch {
      console.error(
        "nats-server is not installed: apt-get install nats-server, or pass --nats nats://host:port",
      );
      return 1;
    }
    // JetStream and a password: an open NATS would let anyone forge user bindings.
    const auth = await prepareNatsAuth({ dir: absolute, host: "127.0.0.1", port: natsPort });
    creds = auth.credsPath;
    log.info("nats credentials", { config: auth.configPath, creds: auth.credsPath });
    const natsReady = await supervisor.add(
      {
        name: "nats",
        command: "nats-server",
        args: ["-c", auth.configPath],
        listens: [{ host: "127.0.0.1", port: natsPort }],
      },
      /Server is ready/,
    );
    if (!natsReady) return ended(await supervisor.done);
  }
  const gates = [];
  for (const [i, id] of ["a", "b"].entries()) {
    const spec = gateSpec(
      { dataDir: absolute, host, port: port + 2 * i, tcpPort: tcpPort + 2 * i, licensePort: 0 },
      ["--cluster", nats, "--gate-id", id, ...(creds ? ["--cluster-creds", creds] : [])],
    );
    spec.name = `gate-${id}`;
    const ready = await supervisor.add(spec, /gate listening http=(\S+) tcp=(\S+) ws=(\S+)/);
    if (!ready) return ended(await supervisor.done);
    gates.push(ready);
  }
  // Services link over framed TCP (see main.ts).
  const tcpA = gates[0][2];
  for (const spec of serviceSpecs({ dataDir: absolute, gateUrl: tcpA })) supervisor.add(spec);
  console.log(`
Gatehouse cluster is up on NATS ${nats}:
  gate A  ${gates[0][1]}/   ${gates[0][2]}
  gate B  ${gates[1][1]}/   ${gates[1][2]}
Login and group run on gate A; a page on gate B uses them through NATS. Ctrl-C stops it.
`);
  return ended(await supervisor.done);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
