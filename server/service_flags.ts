/**
 * The flags every service shares (DESIGN.md, "Processes, flags and defaults"): `--gate` and
 * `--data-dir`, plus each service's own.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseLogFlags, setLogDefaults } from "./log.ts";
import { VERSION } from "./version.ts";

/** Where a service finds the gate. */
export const DEFAULT_GATE_URL = "ws://127.0.0.1:8080/ws";

/** What every service is told. */
export interface ServiceFlags {
  help: boolean;
  gate: string[];
  dataDir: string;
  /** Where `/metrics` is served: `--metrics-port` (absent: not served) on `--metrics-host`. */
  metrics: { port?: number; host: string };
  /** Every other flag by name, as given. */
  values: Record<string, string | boolean | string[] | undefined>;
}

/** The help lines of the shared flags. */
export const SERVICE_FLAGS_HELP =
  `  --gate URL        the gate: ws://host:port/ws or tcp://host:port; repeat or comma-separate
                    for several (${DEFAULT_GATE_URL})
  --data-dir DIR    where the gate's service key file is read (./data)
  --metrics-port N  serve Prometheus metrics at http://HOST:N/metrics (off)
  --metrics-host H  the address of --metrics-port (127.0.0.1)
  --log-format F    text or json log lines (text)
  --log-level L     debug, info, warn or error (info)
  --version         print the version
  --help            this text`;

/**
 * Parses `--gate`, `--data-dir`, `--help` and the service's own string options. `--log-format`
 * and `--log-level` set the process's log defaults; `--version` prints the version and exits.
 *
 * @example
 * ```ts
 * const flags = parseServiceArgs(Deno.args, { name: { type: "string" } });
 * ```
 */
export function parseServiceArgs(
  args: string[],
  own: NonNullable<ParseArgsConfig["options"]> = {},
): ServiceFlags {
  const log = parseLogFlags(args);
  const { values } = parseArgs({
    args: log.rest,
    options: {
      ...own,
      version: { type: "boolean" },
      help: { type: "boolean" },
      gate: { type: "string", multiple: true },
      "data-dir": { type: "string" },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.version === true) {
    console.log(`gatehouse ${VERSION}`);
    Deno.exit(0);
  }
  setLogDefaults(log.options);
  const gate = ((values.gate as string[] | undefined) ?? [DEFAULT_GATE_URL])
    .flatMap((url) => url.split(","))
    .map((url) => url.trim())
    .filter(Boolean);
  return {
    help: values.help === true,
    gate,
    dataDir: (values["data-dir"] as string | undefined) ?? "./data",
    metrics: metricsFlags(values["metrics-port"], values["metrics-host"]),
    values: values as ServiceFlags["values"],
  };
}

/** `--metrics-port` and `--metrics-host`; throws a sentence naming a bad one. */
export function metricsFlags(
  port: unknown,
  host: unknown,
): { port?: number; host: string } {
  const address = (host as string | undefined) ?? "127.0.0.1";
  if (address === "") throw new TypeError("Flag --metrics-host must not be empty");
  if (port === undefined) return { host: address };
  if (typeof port !== "string" || !/^\d+$/.test(port) || Number(port) > 65535) {
    throw new TypeError(
      `Flag --metrics-port must be a port from 0 to 65535, not ${JSON.stringify(port)}`,
    );
  }
  return { port: Number(port), host: address };
}

/** A positive integer flag, or the fallback; throws a sentence naming the flag. */
export function integerFlag(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(
      `Flag --${name} must be a non-negative integer, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}
