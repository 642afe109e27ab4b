/**
 * The gate's flags (DESIGN.md, "Processes, flags and defaults"), parsed with `node:util`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../shared/mod.ts";
import { normalizeAddress } from "./client_source.ts";

/** Everything the gate can be told. */
export interface GateOptions {
  host: string;
  /** HTTP + WebSocket port; 0 picks a free one. */
  port: number;
  /** Framed-TCP port; 0 picks a free one. */
  tcpPort: number;
  dataDir: string;
  /** Folder of the static web page. */
  webDir: string;
  /** PEM files that turn on TLS for both ports. */
  cert?: string;
  key?: string;
  /** Web origins allowed to open a WebSocket; empty allows any. */
  allowOrigins: string[];
  /** Reverse proxies whose `X-Forwarded-For` is believed (`--trust-proxy`); empty: none. */
  trustProxy: string[];
  /** NATS server URLs: cluster mode when given. */
  cluster?: string[];
  /** This gate's id in the cluster; random when absent. */
  gateId?: string;
  /** A file with the gate's NATS credentials (cluster_auth.ts); an open NATS when absent. */
  clusterCreds?: string;
  requestTimeoutMs: number;
  maxInflight: number;
  /** Requests per second per client. */
  rate: number;
  burst: number;
  maxMessageBytes: number;
  /** Most open sockets on both ports; derived from the fd limit when absent (server/fd_budget.ts). */
  maxConnections?: number;
  /** A socket on the HTTP port that has not sent its whole request head by then is closed. */
  headerTimeoutMs: number;
  /** A client silent for 3 intervals is closed. */
  heartbeatMs: number;
  maxUnsentBytes: number;
  /**
   * Services `/readyz` waits for: each must have at least one registered link (matched by the
   * `type` of its `ss_reg_api`: `login`, `group`). Empty: ready once listening.
   */
  requireServices: string[];
}

/** The defaults of every flag. */
export const GATE_DEFAULTS: GateOptions = {
  host: "127.0.0.1",
  port: 8080,
  tcpPort: 8081,
  dataDir: "./data",
  webDir: new URL("../../web", import.meta.url).pathname,
  allowOrigins: [],
  trustProxy: [],
  requestTimeoutMs: 10_000,
  maxInflight: 1000,
  rate: 100,
  burst: 200,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  headerTimeoutMs: 5000,
  heartbeatMs: 10_000,
  maxUnsentBytes: 8 * 1024 * 1024,
  requireServices: [],
};

/** The `--help` text. */
export const GATE_HELP = `Gatehouse gate: clients and services connect here.

Usage: deno task gate:only [flags]

  --host HOST              address to listen on (${GATE_DEFAULTS.host})
  --port N                 HTTP + WebSocket port, 0 for any free one (${GATE_DEFAULTS.port})
  --tcp-port N             framed-TCP port, 0 for any free one (${GATE_DEFAULTS.tcpPort})
  --data-dir DIR           where the service key file lives (${GATE_DEFAULTS.dataDir})
  --web-dir DIR            static web page folder (the repo's web/)
  --cert FILE --key FILE   PEM certificate and key: TLS on both ports
  --allow-origin ORIGIN    web origin allowed to open a WebSocket (repeatable; any when absent)
  --trust-proxy ADDR       a reverse proxy's IP address: its X-Forwarded-For names the client
                           (repeatable; the header is ignored when absent)
  --cluster URLS           join other gates over NATS: nats://host:port[,…] (off when absent)
  --gate-id ID             this gate's id in the cluster (random)
  --cluster-creds FILE     the gate's NATS credentials: a NATS .creds file, or JSON
                           {"user","password"} or {"token"} (keep it mode 0600)
  --request-timeout-ms N   answer TIMEOUT after this long (${GATE_DEFAULTS.requestTimeoutMs})
  --max-inflight N         requests in flight per service link (${GATE_DEFAULTS.maxInflight})
  --rate N                 requests per second per client (${GATE_DEFAULTS.rate})
  --burst N                requests a client may send at once (${GATE_DEFAULTS.burst})
  --max-message-bytes N    largest message (${GATE_DEFAULTS.maxMessageBytes})
  --max-connections N      most open sockets on both ports, finished or not (from the fd
                           limit: (ulimit -n − 64) × 0.9; 10000 when unreadable)
  --header-timeout-ms N    an HTTP request whose head has not arrived by then is closed
                           (${GATE_DEFAULTS.headerTimeoutMs})
  --heartbeat-ms N         a client silent for 3 intervals is closed (${GATE_DEFAULTS.heartbeatMs})
  --max-unsent-bytes N     a slower reader is closed (${GATE_DEFAULTS.maxUnsentBytes})
  --require-services LIST  /readyz answers 200 only when each of these services (the type it
                           registers with, comma-separated, e.g. login,group) has a link, on
                           any gate in cluster mode (none)
  --log-format F           text or json log lines (text)
  --log-level L            debug, info, warn or error (info)
  --version                print the version
  --help                   this text

The service key: GATEHOUSE_SSKEY when set, otherwise <data-dir>/sskey (created, mode 0600).
`;

/** Thrown for a flag value that cannot be used; the message says which and why. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

function integer(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new FlagError(
      `Flag --${name} must be an integer of at least ${min}, not ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Parses the gate's flags; `help` is true when `--help` was given. */
export function parseGateArgs(
  args: string[],
): { help: boolean; version: boolean; options: GateOptions } {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: "boolean" },
      version: { type: "boolean" },
      "require-services": { type: "string", multiple: true },
      host: { type: "string" },
      port: { type: "string" },
      "tcp-port": { type: "string" },
      "data-dir": { type: "string" },
      "web-dir": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "allow-origin": { type: "string", multiple: true },
      "trust-proxy": { type: "string", multiple: true },
      cluster: { type: "string" },
      "gate-id": { type: "string" },
      "cluster-creds": { type: "string" },
      "request-timeout-ms": { type: "string" },
      "max-inflight": { type: "string" },
      rate: { type: "string" },
      burst: { type: "string" },
      "max-message-bytes": { type: "string" },
      "max-connections": { type: "string" },
      "header-timeout-ms": { type: "string" },
      "heartbeat-ms": { type: "string" },
      "max-unsent-bytes": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const d = GATE_DEFAULTS;
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new FlagError("Flags --cert and --key must be given together");
  }
  const options: GateOptions = {
    host: values.host ?? d.host,
    port: integer("port", values.port, d.port),
    tcpPort: integer("tcp-port", values["tcp-port"], d.tcpPort),
    dataDir: values["data-dir"] ?? d.dataDir,
    webDir: values["web-dir"] ?? d.webDir,
    cert: values.cert,
    key: values.key,
    allowOrigins: values["allow-origin"] ?? [],
    trustProxy: trustedProxies(values["trust-proxy"] ?? []),
    cluster: values.cluster === undefined ? undefined : parseClusterUrls(values.cluster),
    gateId: values["gate-id"],
    clusterCreds: values["cluster-creds"],
    requestTimeoutMs: integer(
      "request-timeout-ms",
      values["request-timeout-ms"],
      d.requestTimeoutMs,
      1,
    ),
    maxInflight: integer("max-inflight", values["max-inflight"], d.maxInflight, 1),
    rate: integer("rate", values.rate, d.rate, 1),
    burst: integer("burst", values.burst, d.burst, 1),
    maxMessageBytes: integer(
      "max-message-bytes",
      values["max-message-bytes"],
      d.maxMessageBytes,
      64,
    ),
    maxConnections: values["max-connections"] === undefined
      ? undefined
      : integer("max-connections", values["max-connections"], 0, 1),
    headerTimeoutMs: integer(
      "header-timeout-ms",
      values["header-timeout-ms"],
      d.headerTimeoutMs,
      10,
    ),
    heartbeatMs: integer("heartbeat-ms", values["heartbeat-ms"], d.heartbeatMs, 10),
    maxUnsentBytes: integer("max-unsent-bytes", values["max-unsent-bytes"], d.maxUnsentBytes, 1024),
    requireServices: requiredServices(values["require-services"] ?? []),
  };
  if (options.gateId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(options.gateId)) {
    throw new FlagError("Flag --gate-id must be 1 to 64 letters, digits, '_' or '-'");
  }
  if (options.port > 65535 || options.tcpPort > 65535) {
    throw new FlagError("Flags --port and --tcp-port must be at most 65535");
  }
  return { help: values.help ?? false, version: values.version ?? false, options };
}

/** The names of `--require-services` (repeatable, comma-separated); throws a sentence for a bad one. */
export function requiredServices(texts: string[]): string[] {
  const names = texts.flatMap((text) => text.split(",")).map((name) => name.trim());
  for (const name of names) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new FlagError(
        `Flag --require-services takes service names of letters, digits, '_', '.' or '-', not ${
          JSON.stringify(name)
        }`,
      );
    }
  }
  return [...new Set(names)];
}

/** The addresses of `--trust-proxy`, normalized; throws a sentence naming one that is not an IP. */
export function trustedProxies(texts: string[]): string[] {
  return texts.map((text) => {
    const address = normalizeAddress(text);
    if (address === undefined) {
      throw new FlagError(`Flag --trust-proxy takes an IP address, not ${JSON.stringify(text)}`);
    }
    return address;
  });
}

/** The NATS URLs of `--cluster`; throws a sentence naming a bad one. */
export function parseClusterUrls(text: string): string[] {
  const urls = text.split(",").map((url) => url.trim()).filter(Boolean);
  if (urls.length === 0) {
    throw new FlagError("Flag --cluster needs at least one nats://host:port URL");
  }
  for (const url of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+:\d+$/.test(url)) {
      throw new FlagError(`Flag --cluster takes nats://host:port URLs, not ${JSON.stringify(url)}`);
    }
  }
  return urls;
}
