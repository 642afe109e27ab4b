/**
 * The config file of the suite (`--config gatehouse.json`, README "Configuration"): its keys,
 * their defaults and their checks. Every key is optional; a key the suite does not know, or a
 * value of the wrong kind, is an error naming the key. Paths in the file (`dataDir`, `tls.cert`,
 * `tls.key`) are taken from the file's own folder.
 *
 * @example
 * ```ts
 * const file = await readConfigFile("/etc/gatehouse/gatehouse.json");
 * file.port; // 443, or undefined when the file does not set it
 * ```
 * @module
 */

import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LoggerOptions,
  type LogLevel,
} from "../log.ts";
import { checkGateUrl, parseServices, type ServiceName } from "./services.ts";
import { DEFAULT_START_LIMIT, type StartLimitOptions } from "./start_limit.ts";

/** The gate's limits the supervisor hands on, as the config file names them. */
export interface GateLimits {
  rate?: number;
  burst?: number;
  maxMessageBytes?: number;
  maxConnections?: number;
  heartbeatMs?: number;
  maxUnsentBytes?: number;
  requestTimeoutMs?: number;
  maxInflight?: number;
  headerTimeoutMs?: number;
}

/** Each limit's gate flag and its least value (server/gate/options.ts). */
export const GATE_LIMIT_FLAGS: Readonly<Record<keyof GateLimits, [flag: string, min: number]>> = {
  rate: ["rate", 1],
  burst: ["burst", 1],
  maxMessageBytes: ["max-message-bytes", 64],
  maxConnections: ["max-connections", 1],
  heartbeatMs: ["heartbeat-ms", 10],
  maxUnsentBytes: ["max-unsent-bytes", 1024],
  requestTimeoutMs: ["request-timeout-ms", 1],
  maxInflight: ["max-inflight", 1],
  headerTimeoutMs: ["header-timeout-ms", 10],
};

/** Ports of the services' `/metrics` (absent: off). */
export interface MetricsPorts {
  login?: number;
  group?: number;
  license?: number;
}

/** Settings of the group service (absent: its defaults). */
export interface GroupSettings {
  /** Its `--reconnect-grace-ms`: how long a dropped member keeps its place; 0 turns it off. */
  reconnectGraceMs?: number;
}

/** Cluster mode: the gate joins other gates over NATS (README, "More than one machine"). */
export interface ClusterSettings {
  /** NATS server URLs, `nats://host:port` (the gate's `--cluster`). */
  nats: string[];
  /** This gate's id in the cluster (`--gate-id`); random when absent. */
  gateId?: string;
  /** The NATS credentials file (`--cluster-creds`). */
  creds?: string;
}

/** Everything the supervisor runs the suite with. */
export interface SuiteSettings {
  dataDir: string;
  host: string;
  port: number;
  tcpPort: number;
  licensePort: number;
  /** PEM files: TLS on both gate ports. */
  tls?: { cert: string; key: string };
  /** The origin users open the page at; default the gate's own `http(s)://host:port`. */
  publicOrigin?: string;
  /** Other web origins allowed to open a WebSocket; empty allows any. */
  allowOrigins: string[];
  /** Reverse proxies whose `X-Forwarded-For` the gate believes (its `--trust-proxy`); empty: none. */
  trustProxy: string[];
  /** The gate's limits that were set; the others keep the gate's defaults. */
  limits: GateLimits;
  /** Level and format of every process's log lines. */
  log: LoggerOptions;
  /** Where login, group and license serve `/metrics`. */
  metricsPorts: MetricsPorts;
  /** The group service's settings. */
  group?: GroupSettings;
  /** The children run on this machine (services.ts); all of them by default. */
  services: ServiceName[];
  /** A gate on another machine that login and group link to, when the gate does not run here. */
  gate?: string;
  /** Cluster mode, when set. */
  cluster?: ClusterSettings;
  /** The login service's `--db`: a postgres:// URL; absent: `<dataDir>/login.sqlite`. */
  loginDb?: string;
}

/** The defaults of every key. */
export const SUITE_DEFAULTS = {
  dataDir: "./data",
  host: "127.0.0.1",
  port: 8080,
  tcpPort: 8081,
  licensePort: 8090,
} as const;

const TOP_KEYS = new Set([
  "dataDir",
  "host",
  "port",
  "tcpPort",
  "licensePort",
  "tls",
  "publicOrigin",
  "allowOrigins",
  "trustProxy",
  "limits",
  "startLimit",
  "log",
  "metricsPorts",
  "group",
  "services",
  "gate",
  "cluster",
  "loginDb",
]);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Refuses keys of `object` not in `known`; `where` names the object. */
function onlyKeys(object: Json, known: Iterable<string>, where: string): void {
  const allowed = new Set(known);
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) {
      throw new TypeError(`Config key ${where}${key} is not one the suite knows`);
    }
  }
}

function integerIn(value: unknown, where: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new TypeError(`Config key ${where} must be an integer from ${min} to ${max}`);
  }
  return value as number;
}

function text(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Config key ${where} must be a non-empty string`);
  }
  return value;
}

/** A web origin, `scheme://host[:port]` with nothing after; throws a sentence naming `where`. */
export function checkOrigin(value: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${where} must be an origin like https://chat.example.com, not ${value}`);
  }
  if (!/^https?:$/.test(url.protocol) || url.origin !== value.replace(/\/$/, "")) {
    throw new TypeError(`${where} must be an origin like https://chat.example.com, not ${value}`);
  }
  return url.origin;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * An IP address (IPv4, or IPv6 with or without brackets), as given but for brackets and
 * spaces; throws a sentence naming `where` for anything else (a name, a range, a port).
 */
export function checkAddress(value: string, where: string): string {
  let address = value.trim();
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  if (IPV4.test(address)) return address;
  if (address.includes(":") && /^[0-9A-Fa-f:.]{2,45}$/.test(address)) {
    try {
      new URL(`http://[${address}]/`);
      return address;
    } catch { /* not an IPv6 address */ }
  }
  throw new TypeError(`${where} must be an IP address, not ${JSON.stringify(value)}`);
}

/** NATS URLs, `nats://host:port` or `tls://host:port`, from a list or a comma-separated text. */
export function checkNatsUrls(value: string | readonly string[], where: string): string[] {
  const urls = (typeof value === "string" ? value.split(",") : value).map((url) => url.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new TypeError(`${where} needs at least one nats://host:port URL`);
  for (const url of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+:\d+$/.test(url)) {
      throw new TypeError(`${where} takes nats://host:port URLs, not ${JSON.stringify(url)}`);
    }
  }
  return urls;
}

/** A PostgreSQL URL for the login service's `--db`; throws a sentence naming `where`. */
export function checkDbUrl(value: string, where: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch { /* below */ }
  if (
    !url || !/^postgres(ql)?:$/.test(url.protocol) || !url.hostname || url.pathname.length < 2
  ) {
    throw new TypeError(`${where} must be postgres://user:pass@host:port/db`);
  }
  return value;
}

/** A gate id: 1 to 64 letters, digits, '_' or '-' (the gate's `--gate-id`). */
export function checkGateId(value: string, where: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    throw new TypeError(
      `${where} must be 1 to 64 letters, digits, '_' or '-', not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `path` from `base` when it is relative. */
export function resolvePath(path: string, base: string): string {
  return path.startsWith("/") ? path : `${base}/${path.replace(/^\.\//, "")}`;
}

/** The options of a parsed config file, over the defaults; `base` is the file's folder. */
export function configFromJson(json: unknown, base: string): Partial<SuiteSettings> & {
  startLimit?: StartLimitOptions;
} {
  if (!isObject(json)) throw new TypeError("The config file must hold a JSON object");
  onlyKeys(json, TOP_KEYS, "");
  const out: Partial<SuiteSettings> & { startLimit?: StartLimitOptions } = {};
  if (json.dataDir !== undefined) out.dataDir = resolvePath(text(json.dataDir, "dataDir"), base);
  if (json.host !== undefined) out.host = text(json.host, "host");
  for (const key of ["port", "tcpPort", "licensePort"] as const) {
    if (json[key] !== undefined) out[key] = integerIn(json[key], key, 0, 65535);
  }
  if (json.tls !== undefined) {
    if (!isObject(json.tls)) throw new TypeError("Config key tls must be an object {cert, key}");
    onlyKeys(json.tls, ["cert", "key"], "tls.");
    out.tls = {
      cert: resolvePath(text(json.tls.cert, "tls.cert"), base),
      key: resolvePath(text(json.tls.key, "tls.key"), base),
    };
  }
  if (json.publicOrigin !== undefined) {
    out.publicOrigin = checkOrigin(
      text(json.publicOrigin, "publicOrigin"),
      "Config key publicOrigin",
    );
  }
  if (json.allowOrigins !== undefined) {
    if (!Array.isArray(json.allowOrigins)) {
      throw new TypeError("Config key allowOrigins must be an array of origins");
    }
    out.allowOrigins = json.allowOrigins.map((origin, i) =>
      checkOrigin(text(origin, `allowOrigins[${i}]`), `Config key allowOrigins[${i}]`)
    );
  }
  if (json.trustProxy !== undefined) {
    if (!Array.isArray(json.trustProxy)) {
      throw new TypeError("Config key trustProxy must be an array of IP addresses");
    }
    out.trustProxy = json.trustProxy.map((address, i) =>
      checkAddress(text(address, `trustProxy[${i}]`), `Config key trustProxy[${i}]`)
    );
  }
  if (json.limits !== undefined) {
    if (!isObject(json.limits)) throw new TypeError("Config key limits must be an object");
    onlyKeys(json.limits, Object.keys(GATE_LIMIT_FLAGS), "limits.");
    out.limits = {};
    for (const [key, [, min]] of Object.entries(GATE_LIMIT_FLAGS)) {
      const value = json.limits[key];
      if (value === undefined) continue;
      out.limits[key as keyof GateLimits] = integerIn(value, `limits.${key}`, min, 2 ** 53 - 1);
    }
  }
  if (json.startLimit !== undefined) {
    if (!isObject(json.startLimit)) throw new TypeError("Config key startLimit must be an object");
    onlyKeys(json.startLimit, ["burst", "intervalS"], "startLimit.");
    const { burst, intervalS } = json.startLimit;
    out.startLimit = {
      burst: burst === undefined
        ? DEFAULT_START_LIMIT.burst
        : integerIn(burst, "startLimit.burst", 1, 1_000_000),
      intervalMs: intervalS === undefined
        ? DEFAULT_START_LIMIT.intervalMs
        : integerIn(intervalS, "startLimit.intervalS", 0, 86_400) * 1000,
    };
  }
  if (json.log !== undefined) {
    if (!isObject(json.log)) throw new TypeError("Config key log must be an object");
    onlyKeys(json.log, ["format", "level"], "log.");
    out.log = {};
    if (json.log.format !== undefined) {
      if (!LOG_FORMATS.includes(json.log.format as LogFormat)) {
        throw new TypeError(`Config key log.format must be one of ${LOG_FORMATS.join(", ")}`);
      }
      out.log.format = json.log.format as LogFormat;
    }
    if (json.log.level !== undefined) {
      if (!LOG_LEVELS.includes(json.log.level as LogLevel)) {
        throw new TypeError(`Config key log.level must be one of ${LOG_LEVELS.join(", ")}`);
      }
      out.log.level = json.log.level as LogLevel;
    }
  }
  if (json.metricsPorts !== undefined) {
    if (!isObject(json.metricsPorts)) {
      throw new TypeError("Config key metricsPorts must be an object");
    }
    onlyKeys(json.metricsPorts, ["login", "group", "license"], "metricsPorts.");
    out.metricsPorts = {};
    for (const name of ["login", "group", "license"] as const) {
      const value = json.metricsPorts[name];
      if (value !== undefined) {
        out.metricsPorts[name] = integerIn(value, `metricsPorts.${name}`, 0, 65535);
      }
    }
  }
  if (json.group !== undefined) {
    if (!isObject(json.group)) throw new TypeError("Config key group must be an object");
    onlyKeys(json.group, ["reconnectGraceMs"], "group.");
    out.group = {};
    if (json.group.reconnectGraceMs !== undefined) {
      out.group.reconnectGraceMs = integerIn(
        json.group.reconnectGraceMs,
        "group.reconnectGraceMs",
        0,
        86_400_000,
      );
    }
  }
  if (json.services !== undefined) {
    if (!Array.isArray(json.services)) {
      throw new TypeError('Config key services must be an array of names, e.g. ["login", "group"]');
    }
    out.services = parseServices(
      json.services.map((name, i) => text(name, `services[${i}]`)),
      "Config key services",
    );
  }
  if (json.gate !== undefined) out.gate = checkGateUrl(text(json.gate, "gate"), "Config key gate");
  if (json.loginDb !== undefined) {
    out.loginDb = checkDbUrl(text(json.loginDb, "loginDb"), "Config key loginDb");
  }
  if (json.cluster !== undefined) {
    if (!isObject(json.cluster)) {
      throw new TypeError("Config key cluster must be an object {nats, gateId, creds}");
    }
    onlyKeys(json.cluster, ["nats", "gateId", "creds"], "cluster.");
    const nats = json.cluster.nats;
    if (!Array.isArray(nats) && typeof nats !== "string") {
      throw new TypeError("Config key cluster.nats must be a list of nats://host:port URLs");
    }
    out.cluster = {
      nats: checkNatsUrls(
        Array.isArray(nats) ? nats.map((url, i) => text(url, `cluster.nats[${i}]`)) : nats,
        "Config key cluster.nats",
      ),
    };
    if (json.cluster.gateId !== undefined) {
      out.cluster.gateId = checkGateId(
        text(json.cluster.gateId, "cluster.gateId"),
        "Config key cluster.gateId",
      );
    }
    if (json.cluster.creds !== undefined) {
      out.cluster.creds = resolvePath(text(json.cluster.creds, "cluster.creds"), base);
    }
  }
  return out;
}

/** Reads and checks a config file; throws a sentence naming the file and the fault. */
export async function readConfigFile(path: string): Promise<ReturnType<typeof configFromJson>> {
  let textValue: string;
  try {
    textValue = await Deno.readTextFile(path);
  } catch (error) {
    throw new TypeError(`The config file ${path} cannot be read: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(textValue);
  } catch (error) {
    throw new TypeError(`The config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const absolute = resolvePath(path, Deno.cwd());
  const base = absolute.slice(0, absolute.lastIndexOf("/")) || "/";
  try {
    return configFromJson(json, base);
  } catch (error) {
    throw new TypeError(`In ${path}: ${(error as Error).message}`);
  }
}
