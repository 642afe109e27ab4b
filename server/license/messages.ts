/**
 * The license server's status report: the `data` of the response to the `license_status`
 * envelope (the command and the frame bodies live in `shared/license_messages.ts`), the check of
 * that request, and the sentence a login hears when the license grants no seats.
 *
 * @module
 */

import type { AuditEntry } from "./audit_log.ts";
import type { DogStatus } from "./license_file.ts";
import type { SeatClaim } from "./seat_pool.ts";

/** Most audit events a status request may ask for. */
export const MAX_STATUS_AUDIT = 1000;

/** A seat as the status request reports it. */
export interface StatusSeat extends SeatClaim {
  /** The connection's peer address. */
  remote: string;
  /** When the seat was granted (or the login queued), ISO 8601. */
  since: string;
  /** When the connection last sent a frame, ISO 8601. */
  lastHeartbeat: string;
}

/** The `data` of the `license_status` response. */
export interface StatusData {
  /** The license file's status. */
  dog: DogStatus;
  /** Seats the license grants now. */
  seats: number;
  /** Seats held. */
  seatsUsed: number;
  /** Seats free. */
  seatsLeft: number;
  /** The heartbeat interval. */
  heartbeatMs: number;
  /** Open connections. */
  connections: number;
  /** The server's version (deno.json's `version`). */
  version: string;
  /** Whole seconds since the server started. */
  uptimeS: number;
  /** The seats held, oldest first. */
  holders: StatusSeat[];
  /** The logins waiting, first in line first. */
  waiting: StatusSeat[];
  /** The latest audit events asked for, oldest first. */
  audit: AuditEntry[];
}

/** Checks the `data` of a `license_status` request; returns how many audit events to send. */
export function validateStatusRequest(
  data: unknown,
): { ok: true; audit: number } | { ok: false; error: string } {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return { ok: false, error: "Field data must be a JSON object" };
  }
  const audit = (data as Record<string, unknown>).audit ?? 0;
  if (
    typeof audit !== "number" || !Number.isSafeInteger(audit) || audit < 0 ||
    audit > MAX_STATUS_AUDIT
  ) {
    return { ok: false, error: `Field audit must be a whole number from 0 to ${MAX_STATUS_AUDIT}` };
  }
  return { ok: true, audit };
}

/** `"No seats can be granted because the license file is missing"` from the dog's reason. */
export function noLicenseMessage(reason: string | undefined): string {
  const text = reason ?? "The license is not valid";
  return `No seats can be granted because ${text[0].toLowerCase()}${text.slice(1)}`;
}
