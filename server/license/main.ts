/**
 * `deno task license`: the LAN license server. Flags (DESIGN.md, "Processes, flags and
 * defaults"): `--host` (127.0.0.1), `--port` (8090, 0 = any free port), `--data-dir` (./data),
 * `--heartbeat-ms` (5000), `--types` (a message-type JSON file; the built-in table when absent),
 * `--metrics-port` (off) and `--metrics-host` (127.0.0.1) for Prometheus `/metrics`,
 * `--max-connections` (by default the fd budget of server/fd_budget.ts: (open-file limit − 64) ×
 * 0.9, or 10,000 when the limit cannot be learned; logged at start as `max connections`).
 *
 * SIGINT and SIGTERM give every seat back, close and exit 0; SIGHUP reloads the license file.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MIN_LICENSE_HEARTBEAT_MS } from "../../shared/license_messages.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { createLogger, type LoggerOptions, parseLogFlags } from "../log.ts";
import { MetricsRegistry, processMetrics, serveMetricsIfAsked } from "../metrics.ts";
import { metricsFlags } from "../service_flags.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { VERSION } from "../version.ts";
import { usageError } from "./cli.ts";
import { LicenseServer } from "./license_server.ts";
import { usableSeats } from "./license_file.ts";

const HELP = `Usage: deno task license [options]

The LAN license server: seats from a signed license file, over framed TCP.

Options:
  --host HOST          Address to listen on (default 127.0.0.1)
  --port PORT          TCP port, 0 for any free port (default 8090)
  --data-dir DIR       Holds license.json, license.pub and license.sqlite (default ./data)
  --heartbeat-ms MS    Heartbeat interval; 3 silent intervals drop a client (default 5000)
  --types FILE         Message-type table as JSON (default: the built-in table)
  --metrics-port PORT  Serve Prometheus metrics at http://HOST:PORT/metrics (default off)
  --metrics-host HOST  The address of --metrics-port (default 127.0.0.1)
  --max-connections N  Most client connections at once (default: from the open-file limit,
                       (ulimit -n − 64) × 0.9; logged at start)
  --log-format FORMAT  text or json lines (default text)
  --log-level LEVEL    debug, info, warn or error (default info)
  --version            Print the version
  --help               Show this help

Signals: SIGHUP reloads the license file (a bad one keeps the license in force); SIGINT and
SIGTERM release every seat and exit.`;

/** Parsed flags of the license server. */
export interface LicenseFlags {
  /** Address to listen on. */
  host: string;
  /** TCP port, 0 for any free port. */
  port: number;
  /** Data directory. */
  dataDir: string;
  /** Heartbeat interval, ms. */
  heartbeatMs: number;
  /** Message-type table file. */
  types?: string;
  /** Where `/metrics` is served (no port: not served). */
  metrics: { port?: number; host: string };
  /** Most connections at once; the fd budget's when absent. */
  maxConnections?: number;
  /** Whether --help was given. */
  help: boolean;
}

/** Smallest and largest heartbeat interval accepted. */
export const HEARTBEAT_MS_RANGE = { min: MIN_LICENSE_HEARTBEAT_MS, max: 3_600_000 } as const;

/** The largest `--max-connections` accepted. */
export const MAX_CONNECTIONS_LIMIT = 1_000_000;

/** Parses the flags; throws `TypeError` with a sentence naming the bad flag. */
export function parseLicenseFlags(args: string[]): LicenseFlags {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8090" },
      "data-dir": { type: "string", default: "./data" },
      "heartbeat-ms": { type: "string", default: "5000" },
      types: { type: "string" },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
      "max-connections": { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    throw new TypeError("Flag --port must be a whole number from 0 to 65535");
  }
  const heartbeatMs = Number(values["heartbeat-ms"]);
  if (
    !/^\d+$/.test(values["heartbeat-ms"]) || heartbeatMs < HEARTBEAT_MS_RANGE.min ||
    heartbeatMs > HEARTBEAT_MS_RANGE.max
  ) {
    throw new TypeError(
      `Flag --heartbeat-ms must be a whole number from ${HEARTBEAT_MS_RANGE.min} to ${HEARTBEAT_MS_RANGE.max}`,
    );
  }
  let maxConnections: number | undefined;
  if (values["max-connections"] !== undefined) {
    maxConnections = Number(values["max-connections"]);
    if (
      !/^\d+$/.test(values["max-connections"]) || maxConnections < 1 ||
      maxConnections > MAX_CONNECTIONS_LIMIT
    ) {
      throw new TypeError(
        `Flag --max-connections must be a whole number from 1 to ${MAX_CONNECTIONS_LIMIT}`,
      );
    }
  }
  if (values.host === "") throw new TypeError("Flag --host must not be empty");
  if (values["data-dir"] === "") throw new TypeError("Flag --data-dir must not be empty");
  return {
    host: values.host,
    port,
    dataDir: values["data-dir"],
    heartbeatMs,
    types: values.types,
    metrics: metricsFlags(values["metrics-port"], values["metrics-host"]),
    maxConnections,
    help: values.help,
  };
}

/**
 * The license server's faults (server/process_faults.ts). A rejection nobody handled is
 * contained: the server's asynchronous work is one connection's reads and writes, while the seat
 * pool and its audit rows change in synchronous steps (seat_desk.ts, audit_log.ts), so the fault
 * leaves at most one connection in doubt, which its missed heartbeats end; exiting would drop
 * every client's connection. An exception thrown out of a callback exits: it may have left the
 * seat pool half updated, and after a restart the seats held are kept for their instances for 3
 * heartbeat intervals, so clients take them back.
 */
const FAULT_POLICY: FaultPolicy = { rejection: "continue", exception: "exit" };

/** The license server's metrics: seats granted, and seats by state (used, free, queued). */
export function licenseMetrics(metrics: MetricsRegistry, server: LicenseServer): void {
  metrics.gauge({
    name: "gatehouse_license_seats_granted",
    help: "Seats the license in force grants (0 with no usable license)",
    read: () => server.status(0).seats,
  });
  metrics.gauge({
    name: "gatehouse_license_seats",
    help: "Seats held (used), free, and logins waiting for one (queued)",
    read: () => {
      const status = server.status(0);
      return [
        [{ state: "used" }, status.seatsUsed],
        [{ state: "free" }, status.seatsLeft],
        [{ state: "queued" }, status.waiting.length],
      ];
    },
  });
  metrics.gauge({
    name: "gatehouse_license_connections",
    help: "Open client connections",
    read: () => server.status(0).connections,
  });
  metrics.gauge({
    name: "gatehouse_license_valid",
    help: "1 while a valid, unexpired license is in force",
    read: () => {
      const dog = server.dogStatus();
      return dog.valid && !dog.expired ? 1 : 0;
    },
  });
}

/** Runs the license server with the process's arguments (exits the process when it fails). */
export async function main(): Promise<void> {
  if (Deno.args.includes("--help")) {
    console.log(HELP);
    return;
  }
  if (Deno.args.includes("--version")) {
    console.log(`gatehouse license ${VERSION}`);
    return;
  }
  let flags: LicenseFlags;
  let logOptions: LoggerOptions;
  try {
    const { options, rest } = parseLogFlags(Deno.args);
    logOptions = options;
    flags = parseLicenseFlags(rest);
  } catch (error) {
    usageError((error as Error).message);
  }
  const log = createLogger("license", logOptions);
  installFaultHandlers({ log, policy: FAULT_POLICY });
  let types: MessageTypes | undefined;
  if (flags.types !== undefined) {
    try {
      types = MessageTypes.fromJson(await Deno.readTextFile(flags.types));
    } catch (error) {
      log.error("types failed", { file: flags.types, error });
      Deno.exit(2);
    }
  }
  const server = new LicenseServer({
    host: flags.host,
    port: flags.port,
    dataDir: flags.dataDir,
    heartbeatMs: flags.heartbeatMs,
    types,
    logger: log,
    maxConnections: flags.maxConnections,
  });
  const metrics = new MetricsRegistry();
  licenseMetrics(metrics, server);
  const stopSampling = processMetrics(metrics);
  let metricsServer;
  try {
    await server.start();
    metricsServer = await serveMetricsIfAsked({ registry: metrics, ...flags.metrics, log });
  } catch (error) {
    log.error("start failed", { error });
    Deno.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    stopSampling();
    await metricsServer?.stop();
    await server.close();
    log.info("stopped");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
    Deno.addSignalListener("SIGHUP", () => {
      void server.reloadLicense().then((dog) =>
        log.info("reloaded", { seats: usableSeats(dog), valid: dog.valid, expired: dog.expired })
      );
    });
  }
  const dog = server.dogStatus();
  log.info("listening", {
    tcp: server.address,
    seats: usableSeats(dog),
    heartbeatMs: flags.heartbeatMs,
    dataDir: flags.dataDir,
  });
}

if (import.meta.main) await main();
