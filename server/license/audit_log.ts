/**
 * The license server's audit trail: every grant, release, queued login and refusal, with its
 * reason, in the table `license_audit` of `<data-dir>/license.sqlite` (SQLite in WAL mode,
 * prepared statements only), and beside it, in the same transactions, the table `license_seats`:
 * the seats held, which a restarted server keeps for their instances ({@linkcode
 * AuditLog.heldAtLastStop}).
 *
 * Group commit: {@linkcode AuditLog.record} only queues a row; {@linkcode AuditLog.commit} writes
 * every queued row in one transaction. The license server commits once per event-loop turn,
 * before that turn's frames are written (bench/FINDINGS.md, finding 7: one autocommit per row was
 * a third of its CPU). The promise kept is the one the server made when every row was its own
 * autocommit: a client never hears of a grant or release whose row is not committed (in WAL with
 * `synchronous=NORMAL`: it survives a crash or kill of the server, which is what lets a restarted
 * server keep the seats held, though not a power cut). As before, a row that fails to commit is
 * logged (`audit-failed`) and the answer still goes out: the seat pool, not the table, is the
 * truth while the server runs.
 *
 * Reasons used by the server: grants `login`, `reconnect` (an instance took its seat back on a
 * new connection, also after a restart), `queue` (granted to a waiting login); releases
 * `logout`, `disconnect`, `heartbeat timeout`, `protocol error`, `shutdown`, `not reclaimed after
 * restart`; refusals carry the sentence sent to the client.
 *
 * @example
 * ```ts
 * import { AuditLog } from "./audit_log.ts";
 * const audit = new AuditLog("./data/license.sqlite");
 * audit.record({ event: "grant", instanceId: "i1", host: "h", user: "u", remote: "", reason: "login", seatsLeft: 9 });
 * audit.recent(10);
 * audit.close();
 * ```
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { SeatClaim } from "./seat_pool.ts";

/** Kinds of audited events. */
export type AuditEvent = "grant" | "release" | "queue" | "refuse";

/** One event to record: who claimed the seat, and what happened. */
export interface AuditRecord extends SeatClaim {
  /** What happened. */
  event: AuditEvent;
  /** The peer address of the connection, `host:port`. */
  remote: string;
  /** Why: see the module documentation. */
  reason: string;
  /** Free seats after the event. */
  seatsLeft: number;
}

/** A recorded event. */
export interface AuditEntry extends AuditRecord {
  /** Row id, increasing. */
  id: number;
  /** ISO 8601 time of the event. */
  at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS license_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('grant', 'release', 'queue', 'refuse')),
  instance_id TEXT NOT NULL,
  host TEXT NOT NULL,
  user TEXT NOT NULL,
  remote TEXT NOT NULL,
  reason TEXT NOT NULL,
  seats_left INTEGER NOT NULL
);
`;

/**
 * Version 1: the seats held, kept beside the audit rows in the same transactions, instead of an
 * index on `(instance_id, id)` that a restart searched. The index took a page write for every
 * row of a commit, wherever its instance's rows lay (bench/FINDINGS.md, finding 20); this table
 * is as small as the seats in use. Filled once from the audit rows (through the old index, while
 * it is still there), then the index is dropped.
 */
const SEATS_SCHEMA = `
CREATE TABLE license_seats (
  instance_id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  user TEXT NOT NULL,
  last_event_id INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO license_seats (instance_id, host, user, last_event_id)
  SELECT a.instance_id, a.host, a.user, a.id FROM license_audit a
   WHERE a.id = (SELECT max(b.id) FROM license_audit b
                  WHERE b.instance_id = a.instance_id AND b.event IN ('grant', 'release'))
     AND (a.event = 'grant' OR a.reason = 'shutdown');
DROP INDEX IF EXISTS license_audit_instance;
PRAGMA user_version = 1;
`;

/** The reason of the releases at a server's stop: their seats wait for a restart. */
const SHUTDOWN_REASON = "shutdown";

/** What {@linkcode AuditLog.commit} did. */
export interface AuditCommit {
  /** Rows committed. */
  rows: number;
  /** Rows lost with the failure, when the transaction failed. */
  failed?: { rows: number; error: unknown };
}

/** The audit table in SQLite. */
export class AuditLog {
  #db: DatabaseSync;
  #insert: StatementSync;
  #recent: StatementSync;
  #begin: StatementSync;
  #commit: StatementSync;
  #rollback: StatementSync;
  #holdSeat: StatementSync;
  #keepSeat: StatementSync;
  #freeSeat: StatementSync;
  #queue: Array<{ record: AuditRecord; at: Date }> = [];

  /** Opens (and creates when needed) the database at `path`. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA busy_timeout = 5000");
    this.#db.exec(SCHEMA);
    this.#migrate();
    this.#insert = this.#db.prepare(
      `INSERT INTO license_audit (at, event, instance_id, host, user, remote, reason, seats_left)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#recent = this.#db.prepare(
      `SELECT id, at, event, instance_id, host, user, remote, reason, seats_left
       FROM license_audit ORDER BY id DESC LIMIT ?`,
    );
    this.#begin = this.#db.prepare("BEGIN IMMEDIATE");
    this.#commit = this.#db.prepare("COMMIT");
    this.#rollback = this.#db.prepare("ROLLBACK");
    this.#holdSeat = this.#db.prepare(
      `INSERT OR REPLACE INTO license_seats (instance_id, host, user, last_event_id)
       VALUES (?, ?, ?, ?)`,
    );
    this.#keepSeat = this.#db.prepare(
      "UPDATE license_seats SET last_event_id = ? WHERE instance_id = ?",
    );
    this.#freeSeat = this.#db.prepare("DELETE FROM license_seats WHERE instance_id = ?");
  }

  /** Brings an older file to the current schema, in one transaction (see SEATS_SCHEMA). */
  #migrate(): void {
    const version = () =>
      Number(
        (this.#db.prepare("PRAGMA user_version").get() as { user_version: number })
          .user_version,
      );
    if (version() >= 1) return;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      // Another server on the same file may have migrated it while this one waited.
      if (version() < 1) this.#db.exec(SEATS_SCHEMA);
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Rows queued and not committed yet. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues one event for the next {@linkcode AuditLog.commit}. */
  record(record: AuditRecord, at: Date = new Date()): void {
    this.#queue.push({ record, at });
  }

  /**
   * Writes every queued row in one transaction. Never throws: when the transaction fails, its
   * rows are dropped and the result says how many and why.
   */
  commit(): AuditCommit {
    const batch = this.#queue;
    if (batch.length === 0) return { rows: 0 };
    this.#queue = [];
    try {
      this.#begin.run();
      // The rows of one turn mostly share their millisecond: each time is formatted once.
      let lastMs = NaN;
      let lastAt = "";
      for (const { record, at } of batch) {
        if (at.getTime() !== lastMs) {
          lastMs = at.getTime();
          lastAt = at.toISOString();
        }
        const { lastInsertRowid } = this.#insert.run(
          lastAt,
          record.event,
          record.instanceId,
          record.host,
          record.user,
          record.remote,
          record.reason,
          record.seatsLeft,
        );
        if (record.event === "grant") {
          this.#holdSeat.run(record.instanceId, record.host, record.user, lastInsertRowid);
        } else if (record.event === "release" && record.reason === SHUTDOWN_REASON) {
          this.#keepSeat.run(lastInsertRowid, record.instanceId);
        } else if (record.event === "release") {
          this.#freeSeat.run(record.instanceId);
        }
      }
      this.#commit.run();
      return { rows: batch.length };
    } catch (error) {
      if (this.#db.isTransaction) {
        try {
          this.#rollback.run();
        } catch { /* the transaction is gone either way */ }
      }
      return { rows: 0, failed: { rows: batch.length, error } };
    }
  }

  /** The latest `limit` events, oldest first (rows still queued are committed first). */
  recent(limit: number): AuditEntry[] {
    this.commit();
    const rows = this.#recent.all(Math.max(0, Math.floor(limit))) as Record<string, unknown>[];
    return rows.reverse().map((row) => ({
      id: Number(row.id),
      at: String(row.at),
      event: String(row.event) as AuditEvent,
      instanceId: String(row.instance_id),
      host: String(row.host),
      user: String(row.user),
      remote: String(row.remote),
      reason: String(row.reason),
      seatsLeft: Number(row.seats_left),
    }));
  }

  /**
   * The seats held when the server last stopped: the instances whose latest grant or release is
   * a grant (the server was killed) or a release for `shutdown`, oldest first.
   */
  heldAtLastStop(): SeatClaim[] {
    const rows = this.#db.prepare(
      "SELECT instance_id, host, user FROM license_seats ORDER BY last_event_id",
    ).all() as Record<string, unknown>[];
    return rows.map((row) => ({
      instanceId: String(row.instance_id),
      host: String(row.host),
      user: String(row.user),
    }));
  }

  /** Commits what is queued and closes the database. */
  close(): void {
    if (!this.#db.isOpen) return;
    this.commit();
    this.#db.close();
  }
}
