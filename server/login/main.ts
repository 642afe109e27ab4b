/**
 * `deno task login`: the login service (DESIGN.md, "The services"). Accounts live in
 * `<data-dir>/login.sqlite`, or in PostgreSQL with `--db postgres://…`; the service connects to the gate with `ServiceClient` and serves the
 * `LoginCmd` commands. SIGINT or SIGTERM: the queued writes are committed, the database closed,
 * and the process exits 0.
 *
 * @module
 */

import { ServiceClient } from "../../client/mod.ts";
import { createLogger } from "../log.ts";
import { MetricsRegistry, processMetrics, serveMetricsIfAsked } from "../metrics.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { flagsOrExitCode, serveUntilStopped, stopSignal } from "../service_runner.ts";
import { readServiceKey } from "../service_key.ts";
import { integerFlag, parseServiceArgs, SERVICE_FLAGS_HELP } from "../service_flags.ts";
import type { AccountStore } from "./account_store.ts";
import { DEFAULT_MAX_BATCH } from "./commit_batches.ts";
import { loginMetrics } from "./login_metrics.ts";
import { LoginService } from "./login_service.ts";
import { LoginThrottle } from "./login_throttle.ts";
import { HASH_COSTS, isHashCost, PasswordHasher } from "./password_hash.ts";
import { type SessionRegistry, Sessions } from "./sessions.ts";
import { parseClusterUrls } from "../gate/options.ts";
import { readClusterCreds } from "../gate/cluster_auth.ts";
import { connectCluster } from "./cluster_kv.ts";
import { KvSessions } from "./kv_sessions.ts";
import { KvThrottleStore } from "./throttle_kv.ts";
import { SqliteThrottleStore } from "./throttle_sqlite.ts";
import type { ThrottleStore } from "./throttle_store.ts";
import { checkDbFlag, openAccountStore } from "./open_store.ts";

/** Default token lifetime: 7 days. */
export const DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600;

/** How often expired tokens are deleted. */
const PRUNE_EVERY_MS = 10 * 60_000;

const HELP = `Gatehouse login service: accounts, logins and tokens.

Usage: deno task login [flags]

${SERVICE_FLAGS_HELP}
  --name NAME       this instance's name (login-<pid>)
  --hash-cost COST  owasp: scrypt N=2^16, r=8, p=2; test: weak and fast, for tests only (owasp)
  --token-ttl-s N   how long a login token lives, in seconds (${DEFAULT_TOKEN_TTL_S}, 7 days)
  --max-batch N     most writes committed in one transaction (group commit); 1 commits each
                    write alone, one fsync per request (${DEFAULT_MAX_BATCH})
  --cluster URLS    run as one of several login instances: nats://host:port[,…] of the gates'
                    NATS (JetStream on); the session registry (one session per account) and the
                    failed-login throttle are then shared there (off: one instance)
  --cluster-creds FILE  the NATS credentials, the gate's format: a NATS .creds file, or JSON
                    {"user", "password"} or {"token"} (an open NATS when absent)
  --db URL          keep the accounts in PostgreSQL: postgres://user:pass@host:port/db, shared
                    by login instances on many machines (default: <data-dir>/login.sqlite)

Without --db the accounts are kept in <data-dir>/login.sqlite (WAL; keep it on a local disk;
login instances on this machine may share it). Without --cluster, failed-login records are kept
in <data-dir>/login_throttle.sqlite, so that a restart does not lift a lock (instances on one
machine with the same --data-dir share them).

Commands: cs_msg_register {username, password}, cs_msg_login {username, password},
cs_msg_login_by_token {token}, cs_msg_change_pw {password, newPassword}, cs_msg_logout,
cs_msg_delete_account {password}. Usernames and passwords are 6 to 16 letters and digits.
`;

interface LoginFlags {
  gate: string[];
  dataDir: string;
  metrics: { port?: number; host: string };
  name: string;
  hashCost: keyof typeof HASH_COSTS;
  tokenTtlS: number;
  maxBatch: number;
  cluster?: string[];
  clusterCreds?: string;
  db?: string;
}

/** Parses the flags; `undefined` after printing the help. Throws a sentence on a bad flag. */
function parseLoginArgs(args: string[]): LoginFlags | undefined {
  const flags = parseServiceArgs(args, {
    name: { type: "string" },
    "hash-cost": { type: "string" },
    "token-ttl-s": { type: "string" },
    "max-batch": { type: "string" },
    cluster: { type: "string" },
    "cluster-creds": { type: "string" },
    db: { type: "string" },
  });
  if (flags.help) return undefined;
  const hashCost = flags.values["hash-cost"] ?? "owasp";
  if (!isHashCost(hashCost)) {
    throw new TypeError(
      `Flag --hash-cost must be ${Object.keys(HASH_COSTS).join(" or ")}, not ${
        JSON.stringify(hashCost)
      }`,
    );
  }
  const tokenTtlS = integerFlag("token-ttl-s", flags.values["token-ttl-s"], DEFAULT_TOKEN_TTL_S);
  if (tokenTtlS < 1) throw new TypeError("Flag --token-ttl-s must be at least 1");
  const maxBatch = integerFlag("max-batch", flags.values["max-batch"], DEFAULT_MAX_BATCH);
  if (maxBatch < 1) throw new TypeError("Flag --max-batch must be at least 1");
  const cluster = flags.values.cluster as string | undefined;
  const clusterCreds = flags.values["cluster-creds"] as string | undefined;
  if (clusterCreds !== undefined && cluster === undefined) {
    throw new TypeError("Flag --cluster-creds needs --cluster");
  }
  const db = flags.values.db as string | undefined;
  if (db !== undefined) checkDbFlag(db);
  return {
    gate: flags.gate,
    dataDir: flags.dataDir,
    metrics: flags.metrics,
    name: (flags.values.name as string | undefined) ?? `login-${Deno.pid}`,
    hashCost,
    tokenTtlS,
    maxBatch,
    cluster: cluster === undefined ? undefined : parseClusterUrls(cluster),
    clusterCreds,
    db,
  };
}

/**
 * The login service's faults (server/process_faults.ts): both exit. Its state is the account
 * database with its group-commit queue, and the session map; a handler's error is already
 * answered (FAIL) by ServiceClient, so a rejection nobody handled is one outside any request, such
 * as a commit whose outcome is unknown. An OK is sent only after its commit, so a restart loses
 * nothing acknowledged (clients log in again by token), whereas going on could answer from a
 * writer in an unknown state.
 */
const FAULT_POLICY: FaultPolicy = { rejection: "exit", exception: "exit" };

/** Runs the login service until SIGINT or SIGTERM; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = flagsOrExitCode(() => parseLoginArgs(args), HELP);
  if ("code" in parsed) return parsed.code;
  const flags = parsed.flags;
  const log = createLogger(flags.name);
  installFaultHandlers({ log, policy: FAULT_POLICY });
  const stopping = stopSignal();
  if (flags.hashCost === "test") {
    log.warn("INSECURE PASSWORD HASHING: --hash-cost test is weak and for tests only", {
      hashCost: flags.hashCost,
      params: HASH_COSTS.test,
    });
  }
  const hasher = new PasswordHasher({ params: HASH_COSTS[flags.hashCost] });
  let sskey: string;
  let store: AccountStore;
  let metricsServer;
  let nc;
  let throttleStore: ThrottleStore;
  try {
    if (flags.cluster) {
      const auth = flags.clusterCreds === undefined
        ? undefined
        : await readClusterCreds(flags.clusterCreds, log);
      nc = await connectCluster({ servers: flags.cluster, auth, name: flags.name, log });
      throttleStore = await KvThrottleStore.open({ nc });
    } else {
      throttleStore = await SqliteThrottleStore.open({
        path: `${flags.dataDir.replace(/\/$/, "")}/login_throttle.sqlite`,
      });
    }
  } catch (error) {
    log.error("start failed", { error });
    await nc?.close();
    return 1;
  }
  // One line per 10 s at most: with NATS away, every attempt would fail its reads.
  let storeFailures = 0;
  let storeLoggedAt = 0;
  const throttle = new LoginThrottle({
    store: throttleStore,
    onStoreError: (error) => {
      storeFailures++;
      if (Date.now() - storeLoggedAt < 10_000) return;
      log.warn("throttle store failed", { error, failures: storeFailures });
      storeFailures = 0;
      storeLoggedAt = Date.now();
    },
  });
  const registry = new MetricsRegistry();
  const metrics = loginMetrics(registry, { hasher, throttle });
  const stopSampling = processMetrics(registry);
  try {
    sskey = await readServiceKey(flags.dataDir);
    store = await openAccountStore({
      db: flags.db,
      dataDir: flags.dataDir,
      maxBatch: flags.maxBatch,
      onCommit: metrics.onCommit,
    });
    metricsServer = await serveMetricsIfAsked({ registry, ...flags.metrics, log });
  } catch (error) {
    log.error("start failed", { error });
    return 1;
  }
  log.info(store.created ? "database created" : "database opened", {
    kind: store.kind,
    location: store.location,
    schemaVersion: await store.schemaVersion(),
    accounts: await store.countAccounts(),
    maxBatch: flags.maxBatch,
  });

  const service = new ServiceClient({ url: flags.gate, sskey, name: flags.name, type: "login" });
  // The dummy hash that unknown usernames are checked against, made before the first login.
  await hasher.ready();
  let sessions: SessionRegistry;
  try {
    sessions = nc
      ? await KvSessions.open({ nc, gate: service, log, instance: flags.name })
      : new Sessions({ gate: service, log });
  } catch (error) {
    log.error("start failed", { error });
    await nc?.close();
    return 1;
  }
  const login = new LoginService({
    store,
    hasher,
    throttle,
    sessions,
    tokenTtlMs: flags.tokenTtlS * 1000,
    log,
    lockouts: metrics.lockouts,
  });
  login.install(service);

  const prune = async () => {
    try {
      const pruned = await store.pruneTokens(Date.now());
      if (pruned > 0) log.info("expired tokens deleted", { count: pruned });
    } catch (error) {
      log.error("token pruning failed", { error });
    }
  };
  await prune();
  const pruneTimer = setInterval(prune, PRUNE_EVERY_MS);

  const { code, signal } = await serveUntilStopped({
    service,
    log,
    gate: flags.gate,
    name: flags.name,
    stopping,
  });
  log.info("stopping", { signal });
  clearInterval(pruneTimer);
  service.stop();
  stopSampling();
  await metricsServer?.stop();
  await store.close();
  if (throttleStore instanceof SqliteThrottleStore) throttleStore.close();
  await nc?.close();
  const stats = store.writerStats;
  log.info("stopped", {
    commits: stats.commits,
    writes: stats.writes,
    largestBatch: stats.largestBatch,
    lockBusy: stats.lockBusy || undefined,
    lockWaitMs: stats.lockWaitMs ? Math.round(stats.lockWaitMs) : undefined,
  });
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
