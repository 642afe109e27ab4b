/**
 * The login service's metrics (`--metrics-port`): commits and their batch sizes and times, the
 * password-hashing queue, and lockouts.
 *
 * Lockouts are told by the service (`LoginServiceOptions.lockouts`): a failure that locked its
 * account for its address (further attempts from there are refused before any password check
 * until the lock ends), and each attempt refused while its account (for that address) or its
 * address is locked.
 *
 * @example
 * ```ts ignore
 * const login = loginMetrics(metrics, { hasher, throttle });
 * const store = await SqliteAccountStore.open({ path, onCommit: login.onCommit });
 * const service = new LoginService({ ...options, lockouts: login.lockouts });
 * ```
 * @module
 */

import type { LockoutEvents } from "./password_checks.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { CommitReport } from "./commit_batches.ts";

/** Buckets of writes per commit: 1 to the largest batch allowed. */
export const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** Buckets of commit times, in seconds. */
export const COMMIT_SECONDS_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

/** What the metrics read of the service's parts. */
export interface LoginParts {
  /** The password hasher: hashes running and waiting. */
  hasher: { running: number; waiting: number };
  /** The login throttle: the (account, address) pairs and the addresses it tracks. */
  throttle: { size: { pairs: number; sources: number } };
}

/** The hooks that feed the login metrics. */
export interface LoginMetrics {
  /** For a store's `open`: one call per committed transaction. */
  onCommit(commit: CommitReport): void;
  /** For `LoginService`: counts lockouts and attempts refused while locked. */
  lockouts: LockoutEvents;
}

/** Registers the login metrics on `metrics`; returns the hooks that feed them. */
export function loginMetrics(metrics: MetricsRegistry, parts: LoginParts): LoginMetrics {
  const commits = metrics.counter({
    name: "gatehouse_login_commits_total",
    help: "Transactions committed to login.sqlite (group commit)",
  });
  const batch = metrics.histogram({
    name: "gatehouse_login_commit_batch_size",
    help: "Writes per committed transaction",
    buckets: BATCH_BUCKETS,
  });
  const seconds = metrics.histogram({
    name: "gatehouse_login_commit_seconds",
    help: "Time of one transaction, BEGIN to the end of COMMIT with its fsync, in seconds",
    buckets: COMMIT_SECONDS_BUCKETS,
  });
  metrics.gauge({
    name: "gatehouse_login_hash_running",
    help: "Password hashes being computed now",
    read: () => parts.hasher.running,
  });
  metrics.gauge({
    name: "gatehouse_login_hash_waiting",
    help: "Password hashes queued for a free hashing slot",
    read: () => parts.hasher.waiting,
  });
  metrics.gauge({
    name: "gatehouse_login_throttle_pairs",
    help: "(account, address) pairs the login throttle tracks failures of",
    read: () => parts.throttle.size.pairs,
  });
  metrics.gauge({
    name: "gatehouse_login_throttle_addresses",
    help: "Addresses the login throttle tracks failures of",
    read: () => parts.throttle.size.sources,
  });
  const lockouts = metrics.counter({
    name: "gatehouse_login_lockouts_total",
    help: "Failed logins that locked their account for the address they came from",
  });
  const lockedRefusals = metrics.counter({
    name: "gatehouse_login_locked_refusals_total",
    help: "Login attempts refused because the account (for that address) or the address was locked",
  });
  return {
    onCommit(commit) {
      commits.inc();
      batch.observe(commit.writes);
      seconds.observe(commit.ms / 1000);
    },
    lockouts: {
      locked: () => lockouts.inc(),
      refused: () => lockedRefusals.inc(),
    },
  };
}
