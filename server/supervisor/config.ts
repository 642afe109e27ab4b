/**
 * The suite's one configuration: `--config gatehouse.json` for the supervisor, with every key
 * optional (README, "Configuration"), and the flags that override it. The supervisor hands what
 * concerns the gate (TLS, allowed origins, trusted proxies, limits) and the log flags on to its children.
 *
 * The file itself is read and checked by config_file.ts; paths in flags are taken from the
 * working directory.
 *
 * @example
 * ```ts
 * const config = await loadSuiteConfig(["--config", "gatehouse.json", "--port", "8443"]);
 * config.options.port; // 8443: flags win over the file
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LoggerOptions,
  type LogLevel,
} from "../log.ts";
import {
  checkAddress,
  checkDbUrl,
  checkGateId,
  checkNatsUrls,
  checkOrigin,
  type ClusterSettings,
  GATE_LIMIT_FLAGS,
  type GateLimits,
  readConfigFile,
  resolvePath,
  SUITE_DEFAULTS,
  type SuiteSettings,
} from "./config_file.ts";
import { checkGateUrl, checkServicePlan, parseServices, SERVICE_NAMES } from "./services.ts";
import { DEFAULT_START_LIMIT, type StartLimitOptions } from "./start_limit.ts";

export type { ClusterSettings, GateLimits, MetricsPorts, SuiteSettings } from "./config_file.ts";

/** The supervisor's parsed command line and config file. */
export interface SuiteConfig {
  help: boolean;
  version: boolean;
  options: SuiteSettings;
  startLimit: StartLimitOptions;
}

/** The port a flag gives (`undefined` when absent); throws a sentence for anything else. */
export function portFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new TypeError(
      `Flag --${name} must be a port from 0 to 65535, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function countFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new TypeError(
      `Flag --${name} must be an integer of at least ${min}, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * Parses the supervisor's flags and the `--config` file they name: flags win over the file,
 * which wins over the defaults. Throws `TypeError` with a sentence for a bad flag or key.
 */
export async function loadSuiteConfig(args: string[]): Promise<SuiteConfig> {
  const limitOptions = Object.fromEntries(
    Object.values(GATE_LIMIT_FLAGS).map(([flag]) => [flag, { type: "string" as const }]),
  );
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean" },
      version: { type: "boolean" },
      config: { type: "string" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "tcp-port": { type: "string" },
      "license-port": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "public-origin": { type: "string" },
      "allow-origin": { type: "string", multiple: true },
      "trust-proxy": { type: "string", multiple: true },
      "log-format": { type: "string" },
      "log-level": { type: "string" },
      "start-limit-burst": { type: "string" },
      "start-limit-interval-s": { type: "string" },
      services: { type: "string" },
      gate: { type: "string" },
      cluster: { type: "string" },
      "gate-id": { type: "string" },
      "cluster-creds": { type: "string" },
      db: { type: "string" },
      ...limitOptions,
    },
    strict: true,
    allowPositionals: false,
  });
  const help = values.help === true;
  const version = values.version === true;
  const file = values.config === undefined ? {} : await readConfigFile(values.config as string);
  const all = values as Record<string, string | boolean | string[] | undefined>;
  const flag = (name: string) => all[name] as string | undefined;
  if ((flag("cert") === undefined) !== (flag("key") === undefined)) {
    throw new TypeError("Flags --cert and --key must be given together");
  }
  const cwd = Deno.cwd();
  const dataDir = flag("data-dir") !== undefined
    ? resolvePath(flag("data-dir")!, cwd)
    : file.dataDir ?? resolvePath(SUITE_DEFAULTS.dataDir, cwd);
  const limits: GateLimits = { ...file.limits };
  for (const [key, [name, min]] of Object.entries(GATE_LIMIT_FLAGS)) {
    const value = countFlag(name, flag(name), min);
    if (value !== undefined) limits[key as keyof GateLimits] = value;
  }
  const log: LoggerOptions = { ...file.log };
  const format = flag("log-format");
  if (format !== undefined) {
    if (!LOG_FORMATS.includes(format as LogFormat)) {
      throw new TypeError(`Flag --log-format must be one of ${LOG_FORMATS.join(", ")}`);
    }
    log.format = format as LogFormat;
  }
  const level = flag("log-level");
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) {
      throw new TypeError(`Flag --log-level must be one of ${LOG_LEVELS.join(", ")}`);
    }
    log.level = level as LogLevel;
  }
  const burst = countFlag("start-limit-burst", flag("start-limit-burst"), 1);
  const intervalS = countFlag("start-limit-interval-s", flag("start-limit-interval-s"), 0);
  const startLimit: StartLimitOptions = {
    burst: burst ?? file.startLimit?.burst ?? DEFAULT_START_LIMIT.burst,
    intervalMs: intervalS !== undefined
      ? intervalS * 1000
      : file.startLimit?.intervalMs ?? DEFAULT_START_LIMIT.intervalMs,
  };
  const publicOrigin = flag("public-origin");
  const services = flag("services") !== undefined
    ? parseServices(flag("services")!, "Flag --services")
    : file.services ?? [...SERVICE_NAMES];
  const gate = flag("gate") !== undefined ? checkGateUrl(flag("gate")!, "Flag --gate") : file.gate;
  checkServicePlan(services, gate);
  return {
    help,
    version,
    startLimit,
    options: {
      dataDir,
      host: flag("host") ?? file.host ?? SUITE_DEFAULTS.host,
      port: portFlag("port", flag("port")) ?? file.port ?? SUITE_DEFAULTS.port,
      tcpPort: portFlag("tcp-port", flag("tcp-port")) ?? file.tcpPort ?? SUITE_DEFAULTS.tcpPort,
      licensePort: portFlag("license-port", flag("license-port")) ?? file.licensePort ??
        SUITE_DEFAULTS.licensePort,
      tls: flag("cert") !== undefined
        ? { cert: resolvePath(flag("cert")!, cwd), key: resolvePath(flag("key")!, cwd) }
        : file.tls,
      publicOrigin: publicOrigin !== undefined
        ? checkOrigin(publicOrigin, "Flag --public-origin")
        : file.publicOrigin,
      allowOrigins: values["allow-origin"] !== undefined
        ? (values["allow-origin"] as string[]).map((o) => checkOrigin(o, "Flag --allow-origin"))
        : file.allowOrigins ?? [],
      trustProxy: values["trust-proxy"] !== undefined
        ? (values["trust-proxy"] as string[]).map((a) => checkAddress(a, "Flag --trust-proxy"))
        : file.trustProxy ?? [],
      limits,
      log,
      metricsPorts: { ...file.metricsPorts },
      group: file.group,
      services,
      gate,
      cluster: clusterSettings(flag, file.cluster, cwd),
      loginDb: flag("db") !== undefined ? checkDbUrl(flag("db")!, "Flag --db") : file.loginDb,
    },
  };
}

/** Cluster mode from the flags over the file's `cluster`; throws a sentence for a bad value. */
function clusterSettings(
  flag: (name: string) => string | undefined,
  file: ClusterSettings | undefined,
  cwd: string,
): ClusterSettings | undefined {
  const nats = flag("cluster") !== undefined
    ? checkNatsUrls(flag("cluster")!, "Flag --cluster")
    : file?.nats;
  const gateId = flag("gate-id") !== undefined
    ? checkGateId(flag("gate-id")!, "Flag --gate-id")
    : file?.gateId;
  const creds = flag("cluster-creds") !== undefined
    ? resolvePath(flag("cluster-creds")!, cwd)
    : file?.creds;
  if (nats === undefined) {
    if (gateId !== undefined || creds !== undefined) {
      throw new TypeError(
        "Flags --gate-id and --cluster-creds need --cluster (or the config key cluster.nats)",
      );
    }
    return undefined;
  }
  return {
    nats,
    ...gateId === undefined ? {} : { gateId },
    ...creds === undefined ? {} : { creds },
  };
}

/**
 * The origin of the gate's own page: `publicOrigin`, or the `http(s)://host:port` the gate
 * listens on. Throws when neither names it: a wildcard host or port 0 with origins to allow.
 */
export function pageOrigin(options: SuiteSettings): string {
  if (options.publicOrigin) return options.publicOrigin;
  const wildcard = ["0.0.0.0", "::", "[::]"].includes(options.host);
  if (wildcard || options.port === 0) {
    throw new TypeError(
      "Config key publicOrigin (or --public-origin) is needed with allowOrigins when the gate " +
        "listens on every address or on port 0: it names the page's own origin",
    );
  }
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return new URL(`${options.tls ? "https" : "http"}://${host}:${options.port}`).origin;
}

/**
 * The gate's flags for TLS, the allowed origins (the page's own first), the trusted proxies and
 * the limits set.
 */
export function gateFlags(options: SuiteSettings): string[] {
  const flags: string[] = [];
  if (options.tls) flags.push("--cert", options.tls.cert, "--key", options.tls.key);
  if (options.allowOrigins.length > 0) {
    const origins = new Set([pageOrigin(options), ...options.allowOrigins]);
    for (const origin of origins) flags.push("--allow-origin", origin);
  }
  for (const address of options.trustProxy) flags.push("--trust-proxy", address);
  for (const [key, [flag]] of Object.entries(GATE_LIMIT_FLAGS)) {
    const value = options.limits[key as keyof GateLimits];
    if (value !== undefined) flags.push(`--${flag}`, String(value));
  }
  if (options.cluster) {
    flags.push("--cluster", options.cluster.nats.join(","));
    if (options.cluster.gateId) flags.push("--gate-id", options.cluster.gateId);
    if (options.cluster.creds) flags.push("--cluster-creds", options.cluster.creds);
  }
  return flags;
}

/**
 * The login service's `--db` and its environment: the URL without its password, which goes in
 * `PGPASSWORD` (a command line is visible to every user of the machine; an environment is not).
 */
export function loginDb(db: string): { args: string[]; env: Record<string, string> } {
  const url = new URL(db);
  const password = decodeURIComponent(url.password);
  url.password = "";
  return { args: ["--db", url.href], env: password ? { PGPASSWORD: password } : {} };
}

/** The log flags to hand a child. */
export function logFlags(log: LoggerOptions): string[] {
  const flags: string[] = [];
  if (log.format) flags.push("--log-format", log.format);
  if (log.level) flags.push("--log-level", log.level);
  return flags;
}
