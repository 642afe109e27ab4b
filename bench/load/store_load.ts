/**
 * Accounts-store load (Deno), in a process of its own: N account inserts, then N lookups by
 * username, through the login service's `AccountStore` on a fresh database file — the same class,
 * statements, PRAGMAs (WAL, `synchronous=FULL`) and group-commit writer the service runs.
 *
 * - Inserts: `createAccount` with a precomputed PHC string for each account (hashing is left
 *   out: the strings are made before the clock starts, from random salt and key bytes in the
 *   stored format). `--window` writes are kept in flight, each one queued without waiting for
 *   the others, as the service does for concurrent requests; the group-commit writer puts the
 *   queued ones in shared transactions (at most `--max-batch` each). The time is from the first
 *   write queued until the last one has committed.
 * - Lookups: `accountByName` for every username, in a scattered order (index × a stride coprime
 *   to N), awaited one at a time as the service does (the store's interface is async).
 *
 * With `--raw`, the same rows go through `node:sqlite` directly, the baseline: the store's schema
 * ({@linkcode MIGRATIONS}) and PRAGMAs on a fresh file, every insert through one prepared
 * `INSERT` inside one transaction (`BEGIN` … `COMMIT`: one fsync in all, no promises, no
 * per-write error isolation), then every lookup through one prepared `SELECT` of the same five
 * columns by username, in the same scattered order, returning node:sqlite's row object.
 *
 * With `--pg URL`, the same inserts go through `PostgresAccountStore` on that (empty) database, and
 * the lookups keep `--window` of them in flight (a round trip each; the service's requests overlap
 * the same way), for the PostgreSQL row.
 *
 * Prints `PHASE measure` before the inserts, `PHASE done` after the lookups, then
 * `RESULT {inserts, lookups, …}` (see bench/load/common.ts for the line protocol).
 *
 * Usage: `deno run --allow-read --allow-write bench/load/store_load.ts --db /tmp/x/login.sqlite
 *   --count 1000000 --window 1000 [--max-batch 1000] [--raw]`
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import type { AccountStore } from "../../server/login/account_store.ts";
import { PostgresAccountStore } from "../../server/login/postgres_account_store.ts";
import { MIGRATIONS, SqliteAccountStore } from "../../server/login/sqlite_account_store.ts";
import { DEFAULT_MAX_BATCH } from "../../server/login/commit_batches.ts";
import {
  formatPasswordHash,
  HASH_COSTS,
  KEY_BYTES,
  SALT_BYTES,
} from "../../server/login/password_hash.ts";
import { emit, Latencies, numberFlag, round3 } from "./common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    count: { type: "string" },
    window: { type: "string" },
    "max-batch": { type: "string" },
    raw: { type: "boolean" },
    pg: { type: "string" },
  },
  strict: true,
});
if (!values.db) throw new TypeError("Flag --db is required (a database file that does not exist)");
const count = Math.floor(numberFlag("count", values.count, 1_000_000));
const windowSize = Math.floor(numberFlag("window", values.window, 1000));
const maxBatch = Math.floor(numberFlag("max-batch", values["max-batch"], DEFAULT_MAX_BATCH));

/** Distinct precomputed hash strings; account i gets `hashes[i % HASH_POOL]`. */
const HASH_POOL = 4096;

/** Username of account i: 6 to 16 letters and digits, as the service requires. */
function username(i: number): string {
  return `user${String(i).padStart(7, "0")}`;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A stride coprime to n, so that (i × stride) mod n visits every index once. */
function scatterStride(n: number): number {
  let stride = 7919;
  while (n > 1 && gcd(stride, n) !== 1) stride++;
  return stride;
}

const hashes = Array.from({ length: HASH_POOL }, () =>
  formatPasswordHash({
    params: { ...HASH_COSTS.owasp },
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
    hash: crypto.getRandomValues(new Uint8Array(KEY_BYTES)),
  }));
const names = Array.from({ length: count }, (_, i) => username(i));

const latencies = new Latencies();
const stride = scatterStride(count);
const measured = values.raw
  ? await measureRaw(values.db)
  : values.pg
  ? await measureStore(() => PostgresAccountStore.open({ url: values.pg!, maxBatch }), {
    lookupWindow: windowSize,
  })
  : await measureStore(() => SqliteAccountStore.open({ path: values.db!, maxBatch }));

/** CPU seconds (user + system) of this process since `start`. */
function cpuSecondsSince(start: { user: number; system: number }): number {
  const { user, system } = cpuUsage(start);
  return (user + system) / 1e6;
}

interface Measured {
  insertSeconds: number;
  insertCpuSeconds: number;
  lookupCpuSeconds: number;
  insertErrors: number;
  firstError?: string;
  commits: number;
  largestBatch: number;
  lookupSeconds: number;
  misses: number;
  stored: number;
}

/** Inserts and lookups through one of the login service's stores. */
async function measureStore(
  open: () => Promise<AccountStore>,
  options: { lookupWindow?: number } = {},
): Promise<Measured> {
  const store = await open();
  if (!store.created) {
    throw new Error(`The database ${store.location} already existed; give a new one`);
  }
  let insertErrors = 0;
  let firstError: string | undefined;
  let next = 0;
  const now = Date.now();

  /** One of `windowSize` chains: queue a write, wait for its commit, queue the next. */
  async function chain(): Promise<void> {
    while (next < count) {
      const i = next++;
      const queuedAt = performance.now();
      try {
        await store.createAccount({ username: names[i], passwordHash: hashes[i % HASH_POOL], now });
        latencies.add(performance.now() - queuedAt);
      } catch (error) {
        insertErrors++;
        firstError ??= String(error);
      }
    }
  }

  emit("PHASE", "measure");
  const insertStart = performance.now();
  const insertCpu = cpuUsage();
  await Promise.all(Array.from({ length: Math.min(windowSize, count) }, chain));
  const insertSeconds = (performance.now() - insertStart) / 1000;
  const insertCpuSeconds = cpuSecondsSince(insertCpu);
  const writer = store.writerStats;

  let misses = 0;
  const lookupStart = performance.now();
  const lookupCpu = cpuUsage();
  let k = 0;
  const lookups = async () => {
    while (k < count) {
      const i = (k++ * stride) % count;
      if ((await store.accountByName(names[i]))?.username !== names[i]) misses++;
    }
  };
  await Promise.all(Array.from({ length: options.lookupWindow ?? 1 }, lookups));
  const lookupSeconds = (performance.now() - lookupStart) / 1000;
  const lookupCpuSeconds = cpuSecondsSince(lookupCpu);
  emit("PHASE", "done");
  const stored = await store.countAccounts();
  await store.close();
  return {
    insertSeconds,
    insertCpuSeconds,
    lookupCpuSeconds,
    insertErrors,
    firstError,
    commits: writer.commits,
    largestBatch: writer.largestBatch,
    lookupSeconds,
    misses,
    stored,
  };
}

/** The same rows through `node:sqlite` alone: one transaction, one prepared statement each. */
async function measureRaw(path: string): Promise<Measured> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await Deno.writeFile(path, new Uint8Array(), { mode: 0o600, createNew: true });
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  for (const step of MIGRATIONS) db.exec(step);
  const insert = db.prepare(
    `INSERT INTO accounts (username, password_hash, created_at, password_changed_at)
     VALUES (?, ?, ?, ?)`,
  );
  const select = db.prepare(
    `SELECT id, username, password_hash, created_at, password_changed_at
       FROM accounts WHERE username = ?`,
  );
  const now = Date.now();

  emit("PHASE", "measure");
  const insertStart = performance.now();
  const insertCpu = cpuUsage();
  db.exec("BEGIN IMMEDIATE");
  for (let i = 0; i < count; i++) insert.run(names[i], hashes[i % HASH_POOL], now, now);
  db.exec("COMMIT");
  const insertSeconds = (performance.now() - insertStart) / 1000;
  const insertCpuSeconds = cpuSecondsSince(insertCpu);

  let misses = 0;
  const lookupStart = performance.now();
  const lookupCpu = cpuUsage();
  for (let k = 0; k < count; k++) {
    const i = (k * stride) % count;
    const row = select.get(names[i]) as { username: string } | undefined;
    if (row?.username !== names[i]) misses++;
  }
  const lookupSeconds = (performance.now() - lookupStart) / 1000;
  const lookupCpuSeconds = cpuSecondsSince(lookupCpu);
  emit("PHASE", "done");
  const stored = (db.prepare("SELECT count(*) AS n FROM accounts").get() as { n: number }).n;
  db.close();
  return {
    insertSeconds,
    insertCpuSeconds,
    lookupCpuSeconds,
    insertErrors: 0,
    commits: 1,
    largestBatch: count,
    lookupSeconds,
    misses,
    stored,
  };
}

const { insertSeconds, lookupSeconds, insertErrors, misses } = measured;
let dbBytes = 0;
for (const suffix of ["", "-wal"]) {
  try {
    dbBytes += Deno.statSync(values.db + suffix).size;
  } catch { /* absent */ }
}
emit("RESULT", {
  mode: values.raw ? "store-raw" : values.pg ? "store-pg" : "store",
  connections: windowSize,
  count,
  window: windowSize,
  maxBatch,
  seconds: round3(insertSeconds + lookupSeconds),
  throughput: Math.round(count / insertSeconds),
  errors: insertErrors + misses,
  firstError: measured.firstError,
  inserts: {
    seconds: round3(insertSeconds),
    perSecond: Math.round(count / insertSeconds),
    errors: insertErrors,
    cpuSeconds: round3(measured.insertCpuSeconds),
    commits: measured.commits,
    largestBatch: measured.largestBatch,
    stored: measured.stored,
  },
  lookups: {
    seconds: round3(lookupSeconds),
    perSecond: Math.round(count / lookupSeconds),
    misses,
    cpuSeconds: round3(measured.lookupCpuSeconds),
    stride,
  },
  dbBytes,
  latencyMs: latencies.summary(),
});
Deno.exit(0);
