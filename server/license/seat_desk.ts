/**
 * The seat desk of the license server: it answers `LoginReq`, `LogoutReq` and
 * `GetDogStatusReq`, keeps the {@linkcode SeatPool} in step with the license file, answers
 * queued logins when a seat frees, hands a seat over to an instance that logs in again on a new
 * connection, and writes every grant, release, queued login and refusal to the log and the audit
 * table. It sends through {@linkcode DeskClient}, so it knows nothing of sockets.
 *
 * @module
 */

import { makePush } from "../../shared/envelope.ts";
import {
  type GetDogStatusRsp,
  type HeartbeatRsp,
  LicenseCmd,
  type LicenseQueuedData,
  type LicenseResponseName,
  type LoginRsp,
  type LogoutRsp,
  validateLoginReq,
} from "../../shared/license_messages.ts";
import type { MessageTypeName } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import type { Logger } from "../log.ts";
import type { AuditEvent, AuditLog } from "./audit_log.ts";
import { type DogStatus, refusedDog, usableSeats, withExpiry } from "./license_file.ts";
import { noLicenseMessage, type StatusData, type StatusSeat } from "./messages.ts";
import { type Seat, type SeatClaim, SeatPool } from "./seat_pool.ts";

/** A connection as the desk sees it. */
export interface DeskClient {
  /** The connection's id. */
  readonly id: number;
  /** The peer address, `host:port`. */
  readonly remote: string;
  /** When the connection last sent a whole frame, ms since epoch. */
  readonly lastReceived: number;
  /** Whether the connection is closed or closing. */
  readonly closed: boolean;
  /** The seat this connection holds. */
  claim?: SeatClaim;
  /** The login this connection has waiting in the queue, and its request's sequence number. */
  pending?: { seq: number; claim: SeatClaim };
  /** Sends a frame of type `name` with JSON `body`. */
  send(name: MessageTypeName, seq: number, body: object): void;
  /** The next sequence number for a frame the server starts. */
  nextSeq(): number;
  /** Sends an `Error` frame saying `msg`, then closes. */
  drop(msg: string, code: number): void;
}

/** Options of {@linkcode SeatDesk}. */
export interface SeatDeskOptions {
  /** The heartbeat interval, reported in `LoginRsp`. */
  heartbeatMs: number;
  /** Where grants, releases, queued logins and refusals are recorded. */
  audit: AuditLog;
  /** Where one line per event goes. */
  log: Logger;
  /** Finds a connection by id. */
  find(id: number): DeskClient | undefined;
}

/** The owner of a seat kept, after a restart, for an instance that has not reconnected yet. */
const RESERVED = 0;

function claimOf(seat: SeatClaim): SeatClaim {
  return { instanceId: seat.instanceId, host: seat.host, user: seat.user };
}

/** Seats, the queue, the license file's status and the audit trail, behind the requests. */
export class SeatDesk {
  #options: SeatDeskOptions;
  #pool = new SeatPool();
  #dog: DogStatus = refusedDog(false, "The license file has not been read yet");

  /** A desk with no license until {@linkcode SeatDesk.setDog}. */
  constructor(options: SeatDeskOptions) {
    this.#options = options;
  }

  /** The license file's status, re-evaluated for expiry now. */
  dogStatus(): DogStatus {
    this.#dog = withExpiry(this.#dog);
    return this.#dog;
  }

  /** Takes a newly verified license file; a higher seat count grants seats to the queue. */
  setDog(dog: DogStatus): void {
    this.#dog = dog;
    this.#syncCapacity();
  }

  /** Answers `LoginReq`: a seat, a place in the queue, or a refusal with its reason. */
  login(client: DeskClient, seq: number, value: Record<string, unknown>): void {
    const checked = validateLoginReq(value);
    if (!checked.ok) {
      client.send("LoginRsp", seq, this.#loginBody(State.BAD_REQUEST, checked.error));
      return;
    }
    const { wait, ...claim } = checked.login;
    const refuse = (reason: string) => {
      this.#record("refuse", client, claim, reason);
      client.send("LoginRsp", seq, this.#loginBody(State.FAIL, reason));
    };
    if (client.pending) return refuse("This connection already has a login waiting for a seat");
    if (client.claim) {
      if (client.claim.instanceId === claim.instanceId) {
        client.send("LoginRsp", seq, this.#loginBody(State.OK));
        return;
      }
      return refuse(`This connection already holds a seat for instance ${client.claim.instanceId}`);
    }
    this.#syncCapacity();
    if (this.#pool.capacity === 0) return refuse(noLicenseMessage(this.#dog.reason));
    const result = this.#pool.acquire({ ...claim, owner: client.id, wait });
    if (result.kind === "refused") return refuse(result.reason);
    if (result.previousOwner !== undefined) this.#supersede(result.previousOwner, claim.instanceId);
    if (result.kind === "queued") {
      client.pending = { seq, claim };
      this.#record("queue", client, claim, `position ${result.position}`);
      const push = makePush<LicenseQueuedData>(LicenseCmd.QUEUED, {
        position: result.position,
        seats: this.#pool.capacity,
      });
      client.send("Envelope", client.nextSeq(), push);
      return;
    }
    client.claim = claim;
    this.#record("grant", client, claim, result.reclaimed ? "reconnect" : "login");
    client.send("LoginRsp", seq, this.#loginBody(State.OK));
  }

  /** Answers `LogoutReq`: gives the seat back, or takes the login out of the queue. */
  logout(client: DeskClient, seq: number): void {
    const cancelled = this.#cancelPending(client, "The login was cancelled by a logout");
    const released = this.#releaseSeat(client, "logout");
    const seatsLeft = this.#pool.free;
    const body: LogoutRsp = cancelled || released
      ? { state: State.OK, seatsLeft }
      : { state: State.FAIL, msg: "This connection holds no seat", seatsLeft };
    client.send("LogoutRsp", seq, body);
  }

  /** Answers `GetDogStatusReq`: OK when the license grants seats now, FAIL with the reason. */
  dogReply(client: DeskClient, seq: number): void {
    this.#syncCapacity();
    const { reason, ...dog } = this.dogStatus();
    const body: GetDogStatusRsp = usableSeats(dog) > 0
      ? { state: State.OK, ...dog }
      : { state: State.FAIL, msg: reason, ...dog };
    client.send("GetDogStatusRsp", seq, body);
  }

  /** The body of a `*Rsp` that refuses a request with `state` and `msg`. */
  failBody(rspName: LicenseResponseName, state: number, msg: string): object {
    if (rspName === "LoginRsp") return this.#loginBody(state, msg);
    if (rspName === "LogoutRsp") {
      return { state, msg, seatsLeft: this.#pool.free } satisfies LogoutRsp;
    }
    if (rspName === "HeartbeatRsp") return { state, msg, time: Date.now() } satisfies HeartbeatRsp;
    const { reason: _reason, ...dog } = this.dogStatus();
    return { state, msg, ...dog } satisfies GetDogStatusRsp;
  }

  /** A connection is gone or going: its queued login is dropped and its seat given back. */
  leave(client: DeskClient, reason: string): void {
    this.#cancelPending(client, `The login was cancelled (${reason})`);
    this.#releaseSeat(client, reason);
  }

  /** Gives every seat back with reason `shutdown`, the queue first so that nothing is granted. */
  shutdown(clients: DeskClient[]): void {
    for (const client of clients) this.#cancelPending(client, "The server is shutting down");
    for (const client of clients) this.#releaseSeat(client, "shutdown");
  }

  /** A snapshot of the seats, the queue and the latest `audit` events. */
  status(audit: number): Omit<StatusData, "connections" | "version" | "uptimeS"> {
    this.#syncCapacity();
    const report = (seat: Seat): StatusSeat => {
      const client = this.#options.find(seat.owner);
      return {
        ...claimOf(seat),
        remote: client?.remote ?? "",
        since: new Date(seat.since).toISOString(),
        lastHeartbeat: new Date(client?.lastReceived ?? seat.since).toISOString(),
      };
    };
    return {
      dog: { ...this.dogStatus() },
      seats: this.#pool.capacity,
      seatsUsed: this.#pool.held,
      seatsLeft: this.#pool.free,
      heartbeatMs: this.#options.heartbeatMs,
      holders: this.#pool.holders().map(report),
      waiting: this.#pool.waiters().map(report),
      audit: audit > 0 ? this.#options.audit.recent(audit) : [],
    };
  }

  #loginBody(state: number, msg?: string): LoginRsp {
    return {
      state,
      ...(msg === undefined ? {} : { msg }),
      seats: this.#pool.capacity,
      seatsLeft: this.#pool.free,
      heartbeatMs: this.#options.heartbeatMs,
    };
  }

  /** The connection that held `instanceId` lost it to a newer login of the same instance. */
  #supersede(owner: number, instanceId: string): void {
    const old = this.#options.find(owner);
    if (!old) return;
    const msg = `Instance ${instanceId} logged in again on another connection`;
    if (old.claim?.instanceId === instanceId) old.claim = undefined;
    if (old.pending?.claim.instanceId === instanceId) {
      old.send("LoginRsp", old.pending.seq, this.#loginBody(State.FAIL, msg));
      old.pending = undefined;
    }
    this.#options.log.info("superseded", { conn: owner, remote: old.remote, instance: instanceId });
    old.drop(msg, State.FAIL);
  }

  #cancelPending(client: DeskClient, msg: string): boolean {
    const pending = client.pending;
    if (!pending) return false;
    client.pending = undefined;
    this.#pool.cancel(pending.claim.instanceId, { owner: client.id });
    this.#options.log.info("queue cancel", {
      conn: client.id,
      instance: pending.claim.instanceId,
      reason: msg,
    });
    if (!client.closed) client.send("LoginRsp", pending.seq, this.#loginBody(State.FAIL, msg));
    return true;
  }

  /**
   * After a restart: keeps the seats held when the server stopped (`claims`, up to the seats the
   * license grants) for their instances for `graceMs` (3 heartbeat intervals), so that clients
   * reconnecting take their own seats back before other logins are granted; a seat not taken back
   * by then is released. Returns the timer of that release, if any seat was kept.
   */
  reserve(claims: SeatClaim[], graceMs: number): ReturnType<typeof setTimeout> | undefined {
    this.#syncCapacity();
    let kept = 0;
    for (const claim of claims) {
      const result = this.#pool.acquire({ ...claimOf(claim), owner: RESERVED, wait: false });
      if (result.kind === "granted") kept++;
    }
    if (kept === 0) return undefined;
    this.#options.log.info("seats kept", { seats: kept, graceMs });
    return setTimeout(() => {
      for (const seat of this.#pool.holders()) {
        if (seat.owner !== RESERVED) continue;
        const result = this.#pool.release(seat.instanceId, { owner: RESERVED });
        if (!result.seat) continue;
        this.#record("release", { remote: "" }, claimOf(seat), "not reclaimed after restart");
        this.#grantWaiters(result.granted);
      }
    }, graceMs);
  }

  #releaseSeat(client: DeskClient, reason: string): boolean {
    const claim = client.claim;
    if (!claim) return false;
    client.claim = undefined;
    const result = this.#pool.release(claim.instanceId, { owner: client.id });
    if (!result.seat) return false;
    this.#record("release", client, claim, reason);
    this.#grantWaiters(result.granted);
    return true;
  }

  /** Answers the logins granted from the queue. */
  #grantWaiters(seats: Seat[]): void {
    const work = [...seats];
    for (let seat = work.shift(); seat; seat = work.shift()) {
      const client = this.#options.find(seat.owner);
      if (!client || !client.pending || client.closed) {
        work.push(...this.#pool.release(seat.instanceId, { owner: seat.owner }).granted);
        continue;
      }
      const seq = client.pending.seq;
      client.pending = undefined;
      client.claim = claimOf(seat);
      this.#record("grant", client, client.claim, "queue");
      client.send("LoginRsp", seq, this.#loginBody(State.OK));
    }
  }

  #syncCapacity(): void {
    this.#grantWaiters(this.#pool.setCapacity(usableSeats(this.dogStatus())));
  }

  #record(
    event: AuditEvent,
    client: Pick<DeskClient, "remote">,
    claim: SeatClaim,
    reason: string,
  ): void {
    const seatsLeft = this.#pool.free;
    const fields = {
      instance: claim.instanceId,
      host: claim.host,
      user: claim.user,
      remote: client.remote,
      reason,
      seatsLeft,
    };
    if (event === "refuse") this.#options.log.warn(event, fields);
    else this.#options.log.info(event, fields);
    // Queued: the server commits the turn's rows before it writes the answers (audit_log.ts).
    this.#options.audit.record({ event, ...claim, remote: client.remote, reason, seatsLeft });
  }
}
