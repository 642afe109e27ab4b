/**
 * The license server's audit trail: every grant, release, queued login and refusal, with its
 * reason, in the table `license_audit` of `<data-dir>/license.sqlite` (SQLite in WAL mode,
 * prepared statements only).
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
CREATE INDEX IF NOT EXISTS license_audit_instance ON license_audit (instance_id, id);
`;

/** The audit table in SQLite. */
export class AuditLog {
  #db: DatabaseSync;
  #insert: StatementSync;
  #recent: StatementSync;

  /** Opens (and creates when needed) the database at `path`. */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA busy_timeout = 5000");
    this.#db.exec(SCHEMA);
    this.#insert = this.#db.prepare(
      `INSERT INTO license_audit (at, event, instance_id, host, user, remote, reason, seats_left)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#recent = this.#db.prepare(
      `SELECT id, at, event, instance_id, host, user, remote, reason, seats_left
       FROM license_audit ORDER BY id DESC LIMIT ?`,
    );
  }

  /** Records one event. */
  record(record: AuditRecord, at: Date = new Date()): void {
    this.#insert.run(
      at.toISOString(),
      record.event,
      record.instanceId,
      record.host,
      record.user,
      record.remote,
      record.reason,
      record.seatsLeft,
    );
  }

  /** The latest `limit` events, oldest first. */
  recent(limit: number): AuditEntry[] {
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
      `SELECT a.instance_id, a.host, a.user FROM license_audit a
        WHERE a.id = (SELECT max(b.id) FROM license_audit b
                       WHERE b.instance_id = a.instance_id AND b.event IN ('grant', 'release'))
          AND (a.event = 'grant' OR a.reason = 'shutdown')
        ORDER BY a.id`,
    ).all() as Record<string, unknown>[];
    return rows.map((row) => ({
      instanceId: String(row.instance_id),
      host: String(row.host),
      user: String(row.user),
    }));
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
