/**
 * The LAN license server: framed TCP of its own, seats from a signed license file, two-way
 * heartbeats, an audit trail (DESIGN.md, "The services" → license).
 *
 * - `LoginReq` takes a seat (`LoginRsp` OK with the seats left), or refuses with a reason, or,
 *   when it asks to wait, queues first-come first-served: a `license_queued` push says so, and
 *   the `LoginRsp` (carrying the request's sequence number) comes when a seat is granted.
 * - `LogoutReq`, a closed connection or 3 silent heartbeat intervals give the seat back.
 * - The server sends `HeartbeatReq` to every connection each interval and answers the client's;
 *   any whole frame counts as a sign of life, from the moment it is read.
 * - Work goes by event-loop turns (license_turn.ts): a turn's heartbeats are answered before any
 *   other frame, its audit rows are committed in one transaction, and only then are its answers
 *   written, one socket write per connection.
 * - A client is dropped for silence only when its silence is its own. Silence is counted on a
 *   clock that stops while the server itself is late (each sweep's delay past its interval is
 *   taken out), plus how late the server reads: the wait of its own loopback probe
 *   (read_probe.ts) or the slowest round trip of its pings lately (read_lateness.ts). A client
 *   found silent is dropped at a later sweep if still silent then, and a sweep that runs more
 *   than half an interval late drops nobody, since a frame may wait unread in the socket.
 * - A header fault gets an `Error` frame and the connection is closed; an unknown type gets an
 *   `Error` frame (carrying the frame's sequence number) and the connection stays open; a
 *   malformed body gets its `*Rsp` with state `BAD_REQUEST`.
 * - `Envelope` frames carry the `license_status` request (see `shared/license_messages.ts` and
 *   `messages.ts`).
 *
 * @example
 * ```ts
 * import { LicenseServer } from "./license_server.ts";
 * const server = new LicenseServer({ host: "127.0.0.1", port: 0, dataDir: "./data", heartbeatMs: 5000 });
 * await server.start();
 * console.log(server.address);
 * await server.close();
 * ```
 * @module
 */

import { isRequest, makeResponse, parseEnvelope } from "../../shared/envelope.ts";
import type { Frame } from "../../shared/frame.ts";
import {
  LicenseCmd,
  type LicenseRequestName,
  licenseResponseName,
  makeHeartbeatRsp,
  readLicenseRequestBody,
} from "../../shared/license_messages.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../../shared/limits.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import { acceptLoop } from "../accept_loop.ts";
import { connectionBudget, socketCeiling } from "../fd_budget.ts";
import { FramedLink, type LinkEnd } from "../framed_link.ts";
import { createLogger, type Logger } from "../log.ts";
import { VERSION } from "../version.ts";
import { AuditLog } from "./audit_log.ts";
import { LicenseTurn } from "./license_turn.ts";
import { SilenceClock } from "./silence_clock.ts";
import { checkLicense, type DogStatus, usableSeats, withExpiry } from "./license_file.ts";
import { type StatusData, validateStatusRequest } from "./messages.ts";
import { SeatDesk } from "./seat_desk.ts";
import { Client } from "./license_client_conn.ts";

/** Options of {@linkcode LicenseServer}. */
export interface LicenseServerOptions {
  /** Address to listen on. */
  host: string;
  /** TCP port; 0 picks any free port. */
  port: number;
  /** Holds license.json, license.pub and license.sqlite. */
  dataDir: string;
  /** The heartbeat interval both sides use; 3 silent intervals drop the other side. */
  heartbeatMs: number;
  /** The message-type table; the defaults when absent. */
  types?: MessageTypes;
  /** Where log lines go; the `license` logger on stdout when absent. */
  logger?: Logger;
  /** Most connections at once; defaults to the fd budget (server/fd_budget.ts). */
  maxConnections?: number;
  /** Largest frame accepted; defaults to 1 MiB. */
  maxFrameBytes?: number;
  /** Unsent bytes past which a slow reader is closed; defaults to 1 MiB. */
  maxQueuedBytes?: number;
}

/** The license server. */
export class LicenseServer {
  #options: LicenseServerOptions;
  #types: MessageTypes;
  #log: Logger;
  #clients = new Map<number, Client>();
  #desk: SeatDesk | undefined;
  #runs = new Set<Promise<void>>();
  #nextId = 1;
  #audit: AuditLog | undefined;
  #listener: Deno.TcpListener | undefined;
  #accepting: Promise<void> | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #turn: LicenseTurn;
  /** What counts as a client's own silence (silence_clock.ts). */
  #silence: SilenceClock;
  /** Sockets open, counting those being refused. */
  #sockets = 0;
  #keptSeats: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The last license file that granted seats: kept when a reload finds a worse one. */
  #lastGood: DogStatus | undefined;
  #startedAt = Date.now();

  /** A server that does nothing until {@linkcode LicenseServer.start}. */
  constructor(options: LicenseServerOptions) {
    this.#options = options;
    this.#types = options.types ?? new MessageTypes();
    this.#log = options.logger ?? createLogger("license");
    this.#turn = new LicenseTurn({
      commit: () => this.#commitAudit(),
      onError: (error) => this.#log.error("turn failed", { error }),
    });
    this.#silence = new SilenceClock({
      heartbeatMs: options.heartbeatMs,
      log: this.#log,
      context: () => ({ ...this.#turn.stats }),
    });
  }

  /** Opens the audit database, verifies the license file, and starts listening. */
  async start(): Promise<void> {
    const { dataDir, heartbeatMs } = this.#options;
    await Deno.mkdir(dataDir, { recursive: true });
    this.#audit = new AuditLog(`${dataDir.replace(/\/+$/, "")}/license.sqlite`);
    this.#desk = new SeatDesk({
      heartbeatMs,
      audit: this.#audit,
      log: this.#log,
      find: (id) => this.#clients.get(id),
    });
    try {
      await this.reloadLicense();
      // The seats held when the server stopped wait 3 heartbeat intervals for their instances.
      this.#keptSeats = this.#desk.reserve(this.#audit.heldAtLastStop(), 3 * heartbeatMs);
      this.#listener = Deno.listen({
        hostname: this.#options.host,
        port: this.#options.port,
        transport: "tcp",
      });
      await this.#silence.open();
    } catch (error) {
      this.#listener?.close();
      clearTimeout(this.#keptSeats);
      this.#audit.close();
      throw error;
    }
    this.#accepting = this.#accept(this.#listener);
    this.#ticker = setInterval(() => this.#tick(), this.#silence.sweepMs);
  }

  /** The address clients connect to, `tcp://host:port`. */
  get address(): string {
    const addr = this.#listener!.addr;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    return `tcp://${host}:${addr.port}`;
  }

  /** The license file's status, re-evaluated for expiry now. */
  dogStatus(): DogStatus {
    return this.#desk!.dogStatus();
  }

  /**
   * Reads and verifies the license file again (at start and on SIGHUP); returns the license in
   * force afterwards. A file that grants no seats (missing, broken, tampered or expired) does not
   * replace a license that still does: that one is kept, with its seats, and the log says why.
   */
  async reloadLicense(): Promise<DogStatus> {
    const dog = await checkLicense({ dataDir: this.#options.dataDir });
    const kept = this.#lastGood && withExpiry(this.#lastGood);
    if (usableSeats(dog) > 0) {
      this.#lastGood = dog;
      this.#log.info("license loaded", {
        customer: dog.customer,
        seats: dog.seats,
        expiresAt: dog.expiresAt,
      });
    } else if (kept && usableSeats(kept) > 0) {
      this.#log.warn("license reload refused", {
        reason: dog.reason,
        kept: kept.customer,
        seats: kept.seats,
        expiresAt: kept.expiresAt,
      });
      return this.#closed ? kept : this.dogStatus();
    } else {
      this.#log.warn("license unusable", { reason: dog.reason });
    }
    if (!this.#closed) this.#desk!.setDog(dog);
    return dog;
  }

  /** Seconds since the server was made. */
  get uptimeS(): number {
    return Math.floor((Date.now() - this.#startedAt) / 1000);
  }

  /** A snapshot of the seats, the queue and the latest `audit` events. */
  status(audit = 0): StatusData {
    return {
      ...this.#desk!.status(audit),
      connections: this.#clients.size,
      version: VERSION,
      uptimeS: this.uptimeS,
    };
  }

  /** Gives every seat back (reason `shutdown`), closes every connection and the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ticker);
    clearTimeout(this.#keptSeats);
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    this.#silence.close();
    // What was read before the close is handled, committed and written first.
    this.#turn.runNow();
    const clients = [...this.#clients.values()];
    this.#desk?.shutdown(clients);
    this.#commitAudit();
    for (const client of clients) client.conn.close();
    await this.#accepting;
    await Promise.allSettled([...this.#runs]);
    this.#audit?.close();
  }

  #commitAudit(): void {
    const result = this.#audit?.commit();
    if (result?.failed) {
      this.#log.error("audit failed", { rows: result.failed.rows, error: result.failed.error });
    }
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    // Sockets are a budget (server/fd_budget.ts): `--max-connections`, by default what the
    // open-file limit allows; past it a socket is refused politely, up to the ceiling, and closed
    // at once beyond it.
    const budget = connectionBudget();
    const max = this.#options.maxConnections ?? budget.maxConnections;
    const ceiling = socketCeiling({ maxConnections: max, fdLimit: budget.fdLimit });
    this.#log.info("max connections", {
      max,
      source: this.#options.maxConnections === undefined ? budget.source : "flag",
      fdLimit: budget.fdLimit,
    });
    // One accept loop for every port (server/accept_loop.ts): EMFILE and other accept errors
    // back off and retry; it ends when the listener is closed.
    await acceptLoop({
      listener,
      name: "license",
      log: this.#log,
      onConn: (tcp) => {
        this.#sockets++;
        const conn = new FramedLink(tcp, {
          maxFrameBytes: this.#options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
          maxQueuedBytes: this.#options.maxQueuedBytes ?? 1024 * 1024,
          schedule: (flush) => this.#turn.flush(flush),
          clock: () => this.#silence.now(),
          onClose: () => this.#sockets--,
        });
        const client = new Client(this.#nextId++, conn, this.#types);
        if (this.#closed || this.#clients.size >= max) {
          if (this.#sockets > ceiling) {
            conn.close();
            return;
          }
          this.#log.warn("connection refused", { remote: client.remote, connections: max });
          client.drop(`The server is at its limit of ${max} connections`, State.SERVER_BUSY);
          return;
        }
        this.#clients.set(client.id, client);
        this.#log.info("connected", { conn: client.id, remote: client.remote });
        const heartbeat = this.#types.number("HeartbeatReq");
        const heartbeatRsp = this.#types.number("HeartbeatRsp");
        const run = conn.run({
          onFrame: (frame) => {
            if (frame.type === heartbeat || frame.type === heartbeatRsp) {
              this.#turn.beat(() => this.#onFrame(client, frame));
            } else {
              this.#turn.work(() => this.#onFrame(client, frame));
            }
          },
          onEnd: (end) => this.#turn.work(() => this.#onEnd(client, end)),
        }).catch((error) => {
          this.#log.error("connection failed", { conn: client.id, error });
          this.#turn.work(() => this.#onEnd(client, { cause: "closed", truncatedBytes: 0 }));
          conn.close();
        });
        this.#runs.add(run);
        void run.finally(() => this.#runs.delete(run));
      },
    });
  }

  #onEnd(client: Client, end: LinkEnd): void {
    const { conn } = client;
    if (!this.#clients.delete(client.id)) return;
    if (end.cause === "fault") {
      this.#log.warn("frame error", { conn: client.id, remote: client.remote, error: end.fault });
      client.error(0, end.fault!.message);
    } else if (end.truncatedBytes > 0) {
      this.#log.warn("truncated frame", {
        conn: client.id,
        remote: client.remote,
        bytes: end.truncatedBytes,
      });
      client.error(0, `The connection closed inside a frame after ${end.truncatedBytes} bytes`);
    }
    this.#desk!.leave(client, end.cause === "fault" ? "protocol error" : "disconnect");
    conn.closeAfterFlush();
    this.#log.info("disconnected", { conn: client.id, remote: client.remote, cause: end.cause });
  }

  #onFrame(client: Client, frame: Frame): void {
    // A frame read before its connection was closed (by the server, or for silence) or ended.
    if (client.closed || this.#clients.get(client.id) !== client) return;
    try {
      this.#dispatch(client, frame);
    } catch (error) {
      this.#log.error("handler failed", { conn: client.id, type: frame.type, error });
      client.error(frame.seq, "The server failed to handle the message", State.FAIL);
    }
  }

  #dispatch(client: Client, frame: Frame): void {
    const name = this.#types.name(frame.type);
    const desk = this.#desk!;
    if (name === undefined) {
      this.#log.warn("unknown type", { conn: client.id, type: frame.type });
      client.error(frame.seq, `Unknown message type ${frame.type}`);
      return;
    }
    if (name === "HeartbeatRsp") {
      if (client.pingSentAt !== undefined) {
        this.#silence.notePing(client.lastReceived - client.pingSentAt);
        client.pingSentAt = undefined;
      }
      return;
    }
    if (name === "Error") {
      this.#log.warn("peer error", { conn: client.id, body: new TextDecoder().decode(frame.body) });
      return;
    }
    if (name === "Envelope") {
      this.#onEnvelope(client, frame);
      return;
    }
    if (!name.endsWith("Req")) {
      client.error(frame.seq, `Message type ${name} is not a request the license server answers`);
      return;
    }
    const rspName = licenseResponseName(name as LicenseRequestName);
    const body = readLicenseRequestBody(frame.body);
    if (!body.ok) {
      this.#log.warn("bad request", { conn: client.id, type: name, error: body.error });
      client.send(rspName, frame.seq, desk.failBody(rspName, State.BAD_REQUEST, body.error));
    } else if (name === "HeartbeatReq") {
      client.send("HeartbeatRsp", frame.seq, makeHeartbeatRsp());
    } else if (name === "LoginReq") {
      desk.login(client, frame.seq, body.value);
    } else if (name === "LogoutReq") {
      desk.logout(client, frame.seq);
    } else {
      desk.dogReply(client, frame.seq);
    }
  }

  #tick(): void {
    const now = Date.now();
    const { heartbeatMs } = this.#options;
    // What counts as silence now: not the time the server itself was late (silence_clock.ts).
    const { clock, silenceMs, busy } = this.#silence.sweep();
    for (const client of this.#clients.values()) {
      if (client.closed) continue;
      if (clock - client.receivedAt >= silenceMs) {
        // Found silent: dropped at a later sweep if still silent then and the server was not
        // late, so that whatever it sent meanwhile has been read first.
        if (client.silentSince === undefined || busy) client.silentSince ??= now;
        else this.#timeout(client);
        continue;
      }
      client.silentSince = undefined;
      if (now - client.lastPing >= heartbeatMs) {
        client.lastPing = now;
        client.pingSentAt ??= now;
        client.send("HeartbeatReq", client.nextSeq(), {});
      }
    }
  }

  #timeout(client: Client): void {
    const inFrame = client.conn.bufferedInputBytes;
    this.#log.warn(inFrame > 0 ? "truncated-frame" : "heartbeat-timeout", {
      conn: client.id,
      remote: client.remote,
    });
    this.#desk!.leave(client, "heartbeat timeout");
    if (inFrame > 0) {
      client.drop(
        `The connection went silent inside a frame after ${inFrame} bytes`,
        State.BAD_REQUEST,
      );
    } else {
      client.drop(
        `No message arrived for 3 heartbeat intervals of ${this.#options.heartbeatMs} ms`,
        State.TIMEOUT,
      );
    }
  }

  #onEnvelope(client: Client, frame: Frame): void {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(frame.body);
    } catch {
      client.error(frame.seq, "The string body is not valid UTF-8");
      return;
    }
    const parsed = parseEnvelope(text);
    if (!parsed.ok) {
      if (parsed.msgId !== undefined && parsed.cmd !== undefined) {
        const request = { cmd: parsed.cmd, msgId: parsed.msgId };
        const rsp = makeResponse(request, { state: State.BAD_REQUEST, msg: parsed.error });
        client.send("Envelope", frame.seq, rsp);
      } else {
        client.error(frame.seq, parsed.error);
      }
      return;
    }
    const envelope = parsed.envelope;
    if (!isRequest(envelope)) {
      client.error(frame.seq, "The license server answers only request envelopes");
      return;
    }
    const checked = validateStatusRequest(envelope.data);
    let rsp;
    if (envelope.cmd !== LicenseCmd.STATUS) {
      rsp = makeResponse(envelope, {
        state: State.UNDEFINED_CMD,
        msg: `The license server has no command ${envelope.cmd}`,
      });
    } else if (!checked.ok) {
      rsp = makeResponse(envelope, { state: State.BAD_REQUEST, msg: checked.error });
    } else {
      rsp = makeResponse(envelope, { data: this.status(checked.audit) });
    }
    client.send("Envelope", frame.seq, rsp);
  }
}
