/**
 * The client of the LAN license server, with the original library's interface:
 * `start(config, messageTypes, onStatus)`, `stop()`, `sendHeartbeatReq()`, `sendLoginReq()`,
 * `sendLogoutReq()`, `sendGetDogStatusReq()` (DESIGN.md, "The clients"). It runs on Deno and on
 * Node: the socket is `node:net`, and nothing here uses a Deno API.
 *
 * It heartbeats on the server's interval (given in `LoginRsp`; `config.heartbeatMs` until then),
 * answers the server's heartbeats, and drops the connection after 3 intervals without a message
 * from the server. With `reconnect`, it connects again with backoff and, when it held or wanted a
 * seat, logs in again with the same instance id, which gets the same seat back. `onStatus` hears
 * every change: `connected`, `licensed`, `queued`, `refused`, `released`, `lost`,
 * `reconnecting`, `stopped`.
 *
 * @example
 * ```ts
 * import { LicenseClient } from "./license_client.ts";
 * import { MessageTypes } from "../shared/message_types.ts";
 * const client = new LicenseClient();
 * await client.start({ port: 8090, user: "ada", hostName: "lab-3" }, new MessageTypes(), (e) => console.log(e));
 * const rsp = await client.sendLoginReq();
 * if (rsp.state !== 1) console.log(rsp.msg);
 * await client.stop();
 * ```
 * @module
 */

import {
  type GetDogStatusRsp,
  type HeartbeatRsp,
  type LicenseRequestName,
  type LicenseResponseName,
  type LicenseRspBase,
  type LoginReq,
  type LoginRsp,
  type LogoutRsp,
  MIN_LICENSE_HEARTBEAT_MS,
} from "../shared/license_messages.ts";
import { MessageTypes } from "../shared/message_types.ts";
import { State } from "../shared/state_codes.ts";
import { Backoff } from "./backoff.ts";
import { LicenseClientError, LicenseLink } from "./license_link.ts";

export { LicenseClientError } from "./license_link.ts";
export type {
  GetDogStatusRsp,
  HeartbeatRsp,
  LicenseResponseName,
  LicenseRspBase,
  LoginRsp,
  LogoutRsp,
} from "../shared/license_messages.ts";

/** The kinds of status change {@linkcode LicenseClient} reports. */
export type LicenseStatusKind =
  | "connected"
  | "licensed"
  | "queued"
  | "refused"
  | "released"
  | "lost"
  | "reconnecting"
  | "stopped";

/** One status change. */
export interface LicenseStatusEvent {
  /** What changed. */
  status: LicenseStatusKind;
  /** Why: the refusal or the loss, in a sentence. */
  msg?: string;
  /** `licensed`: the license's seat count. */
  seats?: number;
  /** `licensed`, `released`: the seats left. */
  seatsLeft?: number;
  /** `licensed`: the heartbeat interval now in use. */
  heartbeatMs?: number;
  /** `queued`: the place in the queue, 1 first. */
  position?: number;
  /** `reconnecting`: the attempt number, 1 first, and the wait before it. */
  attempt?: number;
  /** `reconnecting`: the wait before the attempt, ms. */
  delayMs?: number;
}

/** Hears every status change. */
export type LicenseStatusListener = (event: LicenseStatusEvent) => void;

/** The client's configuration (the original `ClientConfig`). */
export interface LicenseClientConfig {
  /** The license server's address; default 127.0.0.1. */
  host?: string;
  /** The license server's port; default 8090. */
  port?: number;
  /** A stable id of this program instance; a random UUID when absent. */
  instanceId?: string;
  /** The host name sent in `LoginReq`; default "unknown". */
  hostName?: string;
  /** The user name sent in `LoginReq`; default "unknown". */
  user?: string;
  /** Wait in the queue when no seat is free (default false). */
  wait?: boolean;
  /** Heartbeat interval until the server says its own; default 5000. */
  heartbeatMs?: number;
  /** Reconnect with backoff after a lost connection, and log in again (default false). */
  reconnect?: boolean;
  /** First and largest wait between reconnect attempts; defaults 100 and 5000 ms. */
  reconnectMinMs?: number;
  /** Largest wait between reconnect attempts; default 5000 ms. */
  reconnectMaxMs?: number;
  /** Defaults 5000 and 10 000 ms; a login that waits in the queue has no timeout. */
  connectTimeoutMs?: number;
  /** How long a request waits for its response; default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Largest frame accepted; default 1 MiB. */
  maxFrameBytes?: number;
}

type Settings = Required<Omit<LicenseClientConfig, "maxFrameBytes">> & { maxFrameBytes?: number };

/** Longest interval or timeout the client accepts: one day. */
const MAX_TIMEOUT_MS = 86_400_000;

function positiveInt(name: string, value: number, max = MAX_TIMEOUT_MS): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`Config ${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}

/** A client of the license server. */
export class LicenseClient {
  #config: Settings | undefined;
  #types = new MessageTypes();
  #onStatus: LicenseStatusListener = () => {};
  #link: LicenseLink | undefined;
  #stopped = true;
  #wantSeat = false;
  #wait = false;
  #licensed = false;
  #heartbeatMs = 5000;
  #lastError: string | undefined;
  #reconnecting = false;
  #wake: (() => void) | undefined;

  /** This instance's id, sent in every `LoginReq`. */
  get instanceId(): string {
    return this.#config?.instanceId ?? "";
  }

  /** Whether the client holds a seat. */
  get licensed(): boolean {
    return this.#licensed;
  }

  /** Whether the client is connected to the server. */
  get connected(): boolean {
    return this.#link !== undefined && !this.#link.closed;
  }

  /** The heartbeat interval in use. */
  get heartbeatMs(): number {
    return this.#heartbeatMs;
  }

  /**
   * Connects to the server. Resolves once connected; without `reconnect`, rejects when the
   * first attempt fails; with it, keeps trying until connected or stopped.
   */
  async start(
    config: LicenseClientConfig,
    messageTypes: MessageTypes = new MessageTypes(),
    onStatus: LicenseStatusListener = () => {},
  ): Promise<void> {
    if (!this.#stopped) throw new LicenseClientError("The license client is already started");
    this.#config = {
      host: config.host ?? "127.0.0.1",
      port: positiveInt("port", config.port ?? 8090, 65535),
      instanceId: config.instanceId ?? crypto.randomUUID(),
      hostName: config.hostName ?? "unknown",
      user: config.user ?? "unknown",
      wait: config.wait ?? false,
      heartbeatMs: positiveInt("heartbeatMs", config.heartbeatMs ?? 5000),
      reconnect: config.reconnect ?? false,
      reconnectMinMs: positiveInt("reconnectMinMs", config.reconnectMinMs ?? 100),
      reconnectMaxMs: positiveInt("reconnectMaxMs", config.reconnectMaxMs ?? 5000),
      connectTimeoutMs: positiveInt("connectTimeoutMs", config.connectTimeoutMs ?? 5000),
      requestTimeoutMs: positiveInt("requestTimeoutMs", config.requestTimeoutMs ?? 10_000),
      maxFrameBytes: config.maxFrameBytes,
    };
    this.#types = messageTypes;
    this.#onStatus = onStatus;
    this.#heartbeatMs = this.#config.heartbeatMs;
    this.#stopped = false;
    this.#wantSeat = false;
    try {
      await this.#connect();
    } catch (error) {
      if (!this.#config.reconnect) {
        this.#stopped = true;
        throw error;
      }
      this.#lastError = (error as Error).message;
      await this.#reconnectLoop();
    }
  }

  /** Logs out when licensed, closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wantSeat = false;
    this.#wake?.();
    const link = this.#link;
    if (link && !link.closed && this.#licensed) {
      await link.request("LogoutReq", {}, { timeoutMs: 1000 }).catch(() => {});
    }
    await link?.close("The license client stopped");
    this.#licensed = false;
    this.#emit({ status: "stopped" });
  }

  /** Sends `HeartbeatReq`; resolves with the `HeartbeatRsp` body. */
  sendHeartbeatReq(): Promise<HeartbeatRsp> {
    return this.#request("HeartbeatReq", {}) as Promise<HeartbeatRsp>;
  }

  /**
   * Asks for a seat; resolves with the `LoginRsp` body, whose `state` says whether it was
   * granted (`msg` says why not). With `wait`, it resolves when a seat is granted. After a lost
   * connection, `reconnect` logs in again by itself.
   */
  sendLoginReq(options: { wait?: boolean } = {}): Promise<LoginRsp> {
    this.#wantSeat = true;
    this.#wait = options.wait ?? this.#config?.wait ?? false;
    return this.#login();
  }

  /** Gives the seat back (or leaves the queue); resolves with the `LogoutRsp` body. */
  sendLogoutReq(): Promise<LogoutRsp> {
    this.#wantSeat = false;
    return this.#request("LogoutReq", {}) as Promise<LogoutRsp>;
  }

  /** Asks for the license file's status; resolves with the `GetDogStatusRsp` body. */
  sendGetDogStatusReq(): Promise<GetDogStatusRsp> {
    return this.#request("GetDogStatusReq", {}) as Promise<GetDogStatusRsp>;
  }

  #request(
    name: LicenseRequestName,
    body: object,
    options: { timeoutMs?: number } = {},
  ): Promise<LicenseRspBase> {
    if (!this.#link) {
      return Promise.reject(new LicenseClientError("The license client is not connected"));
    }
    return this.#link.request(name, body, options);
  }

  #login(): Promise<LoginRsp> {
    const config = this.#config;
    if (!config) {
      return Promise.reject(new LicenseClientError("The license client is not started"));
    }
    const body: LoginReq = {
      instanceId: config.instanceId,
      host: config.hostName,
      user: config.user,
      wait: this.#wait,
    };
    const timeoutMs = this.#wait ? 0 : undefined;
    return this.#request("LoginReq", body, { timeoutMs }) as Promise<LoginRsp>;
  }

  async #connect(): Promise<void> {
    const config = this.#config!;
    const mine: { link?: LicenseLink } = {};
    const current = () => mine.link !== undefined && this.#link === mine.link;
    const link = await LicenseLink.open({
      host: config.host,
      port: config.port,
      types: this.#types,
      heartbeatMs: this.#heartbeatMs,
      connectTimeoutMs: config.connectTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
    }, {
      onResponse: (name, body) => {
        if (current()) this.#onResponse(name, body);
      },
      onQueued: (position) => {
        if (current()) this.#emit({ status: "queued", position });
      },
      onClose: (reason) => {
        if (current()) this.#onLost(reason);
      },
    });
    if (this.#stopped) {
      await link.close("The license client stopped");
      throw new LicenseClientError("The license client was stopped");
    }
    mine.link = link;
    this.#link = link;
    this.#lastError = undefined;
    this.#emit({ status: "connected" });
    if (this.#wantSeat) this.#login().catch(() => {});
  }

  #onResponse(name: LicenseResponseName, body: LicenseRspBase): void {
    if (name === "LoginRsp") {
      const rsp = body as LoginRsp;
      if (rsp.state === State.OK) {
        this.#licensed = true;
        // The server's interval, within sane bounds whatever a faulty server says.
        this.#heartbeatMs = Math.min(
          Math.max(rsp.heartbeatMs, MIN_LICENSE_HEARTBEAT_MS),
          MAX_TIMEOUT_MS,
        );
        this.#link?.useHeartbeat(this.#heartbeatMs);
        this.#emit({
          status: "licensed",
          seats: rsp.seats,
          seatsLeft: rsp.seatsLeft,
          heartbeatMs: this.#heartbeatMs,
        });
      } else {
        this.#wantSeat = false;
        this.#emit({ status: "refused", msg: rsp.msg ?? "The login was refused" });
      }
    } else if (name === "LogoutRsp" && body.state === State.OK) {
      this.#licensed = false;
      this.#emit({ status: "released", seatsLeft: (body as LogoutRsp).seatsLeft });
    }
  }

  #onLost(reason: string): void {
    this.#link = undefined;
    const wasLicensed = this.#licensed;
    this.#licensed = false;
    if (this.#stopped) return;
    this.#wantSeat ||= wasLicensed;
    this.#lastError = reason;
    this.#emit({ status: "lost", msg: reason });
    if (this.#config!.reconnect) this.#reconnectLoop().catch(() => {});
  }

  async #reconnectLoop(): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    const config = this.#config!;
    const backoff = new Backoff({ minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs });
    try {
      for (let attempt = 1; !this.#stopped; attempt++) {
        const delayMs = backoff.next();
        this.#emit({ status: "reconnecting", attempt, delayMs, msg: this.#lastError });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        if (this.#stopped) break;
        try {
          await this.#connect();
          return;
        } catch (error) {
          this.#lastError = (error as Error).message;
        }
      }
      throw new LicenseClientError("The license client was stopped");
    } finally {
      this.#reconnecting = false;
    }
  }

  #emit(event: LicenseStatusEvent): void {
    try {
      this.#onStatus(event);
    } catch { /* a listener's fault must not break the client */ }
  }
}
