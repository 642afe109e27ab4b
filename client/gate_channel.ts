/**
 * What GateClient and ServiceClient share: one connection to a gate (from a list of URLs) with
 * requests matched to responses by `msgId`, per-request timeouts, push handlers, a heartbeat,
 * and reconnection with exponential backoff and jitter.
 *
 * @module
 */

import {
  type Envelope,
  GateCmd,
  isPush,
  isRequest,
  isResponse,
  makeRequest,
  parseEnvelope,
  type PushEnvelope,
  type RequestEnvelope,
  type ResponseEnvelope,
} from "../shared/mod.ts";
import { Backoff } from "./backoff.ts";
import { ClientClosedError, ConnectionLostError, RequestTimeoutError } from "./errors.ts";
import {
  type OpenTransport,
  openTransport,
  type Transport,
  type TransportOptions,
} from "./transport.ts";

/** The state of a channel. */
export type ChannelState = "connecting" | "connected" | "disconnected" | "closed";

/** Options of {@linkcode GateChannel}. */
export interface GateChannelOptions extends TransportOptions {
  /** One gate URL, or a list tried in turn after each lost connection. */
  url: string | string[];
  /** Heartbeat interval; the gate closes a client silent for 3 of them. Default 5000. */
  heartbeatMs?: number;
  /** Default request timeout. Default 10000. */
  requestTimeoutMs?: number;
  /** Reconnect after a lost connection. Default true. */
  reconnect?: boolean;
  /** Shortest and longest reconnect delay. Defaults 100 and 5000. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** How transports are opened; the built-in one by default. */
  openTransport?: OpenTransport;
}

/** Options of one request. */
export interface RequestOptions {
  timeoutMs?: number;
}

interface Waiting {
  cmd: string;
  resolve(response: ResponseEnvelope): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** One connection to the gate with requests, pushes, heartbeat and reconnect. */
export class GateChannel {
  #urls: string[];
  #urlIndex = 0;
  #options: GateChannelOptions;
  #transport?: Transport;
  #state: ChannelState = "disconnected";
  #ready = false;
  #readyWaiters: Array<() => void> = [];
  #waiting = new Map<number, Waiting>();
  #msgId = 0;
  #pushHandlers = new Map<string, Set<(data: unknown, push: PushEnvelope) => void>>();
  #stateHandlers = new Set<(state: ChannelState, detail?: string) => void>();
  #backoff: Backoff;
  #heartbeat?: ReturnType<typeof setInterval>;
  #reconnectTimer?: ReturnType<typeof setTimeout>;
  #lastReceived = 0;
  #rttMs?: number;
  #closed = false;
  /** Runs after every (re)connect, before queued requests go out. */
  onConnected?: () => Promise<void>;
  /** Handles requests the gate forwards (service links). */
  onRequest?: (request: RequestEnvelope) => void;

  constructor(options: GateChannelOptions) {
    this.#options = options;
    this.#urls = Array.isArray(options.url) ? [...options.url] : [options.url];
    if (this.#urls.length === 0) throw new TypeError("At least one gate URL is needed");
    for (const url of this.#urls) {
      if (!/^(wss?|tcp|tls):\/\/[^/\s]+/.test(url)) {
        throw new TypeError(`Gate URL ${url} must start with ws://, wss://, tcp:// or tls://`);
      }
    }
    this.#backoff = new Backoff({
      minMs: options.backoffMinMs ?? 100,
      maxMs: options.backoffMaxMs ?? 5000,
    });
  }

  /** The current state. */
  get state(): ChannelState {
    return this.#state;
  }

  /** The URL of the gate in use (or tried next). */
  get url(): string {
    return this.#urls[this.#urlIndex];
  }

  /** The last heartbeat round trip in milliseconds. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** Hears every state change. Returns a function that stops it. */
  onState(handler: (state: ChannelState, detail?: string) => void): () => void {
    this.#stateHandlers.add(handler);
    return () => this.#stateHandlers.delete(handler);
  }

  /** Handles pushes of one `cmd`. Returns a function that removes the handler. */
  on(cmd: string, handler: (data: unknown, push: PushEnvelope) => void): () => void {
    let set = this.#pushHandlers.get(cmd);
    if (!set) this.#pushHandlers.set(cmd, set = new Set());
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * Connects, trying each URL once. Resolves when connected and `onConnected` has run;
   * rejects when no gate could be reached (reconnecting goes on when enabled).
   */
  async connect(): Promise<void> {
    if (this.#closed) throw new ClientClosedError();
    let lastError: unknown;
    for (let i = 0; i < this.#urls.length; i++) {
      try {
        await this.#open();
        return;
      } catch (error) {
        lastError = error;
        this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
      }
    }
    this.#scheduleReconnect();
    throw lastError;
  }

  /** Sends a request; resolves with its response, whatever its state. */
  async request<T = unknown>(
    cmd: string,
    data: unknown = {},
    options: RequestOptions = {},
  ): Promise<ResponseEnvelope<T>> {
    if (this.#closed) throw new ClientClosedError();
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    if (!this.#ready) await this.#waitReady(cmd, timeoutMs);
    return this.send(cmd, data, Math.max(1, deadline - Date.now())) as Promise<ResponseEnvelope<T>>;
  }

  /** Sends a request now, without waiting for `onConnected` (for use inside it). */
  send(cmd: string, data: unknown, timeoutMs: number): Promise<ResponseEnvelope> {
    const transport = this.#transport;
    if (!transport || this.#state !== "connected") {
      return Promise.reject(new ConnectionLostError(cmd));
    }
    this.#msgId = this.#msgId >= 0x7fff_ffff ? 1 : this.#msgId + 1;
    const msgId = this.#msgId;
    return new Promise<ResponseEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(msgId);
        reject(new RequestTimeoutError(cmd, timeoutMs));
      }, timeoutMs);
      this.#waiting.set(msgId, { cmd, resolve, reject, timer });
      transport.send(JSON.stringify(makeRequest(cmd, { msgId, data })));
    });
  }

  /** Sends an envelope as it is (service responses). */
  sendEnvelope(envelope: Envelope): boolean {
    return this.sendText(JSON.stringify(envelope));
  }

  /** Sends an envelope's JSON text as it is. */
  sendText(text: string): boolean {
    if (!this.#transport || this.#state !== "connected") return false;
    this.#transport.send(text);
    return true;
  }

  /** Closes for good: pending requests reject with {@linkcode ClientClosedError}. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#stopHeartbeat();
    this.#transport?.close();
    this.#transport = undefined;
    this.#failWaiting(() => new ClientClosedError());
    for (const wake of this.#readyWaiters.splice(0)) wake();
    this.#setState("closed");
  }

  /** Drops the current connection as if it were lost (reconnect follows when enabled). */
  drop(): void {
    this.#transport?.close();
  }

  async #open(): Promise<void> {
    const url = this.url;
    this.#setState("connecting", url);
    const open = this.#options.openTransport ?? openTransport;
    // The close handler may run before `open` resolves; it compares against this holder.
    const holder: { transport?: Transport } = {};
    const transport = await open(url, {
      onText: (text) => this.#onText(text),
      onClose: (reason) => {
        if (holder.transport !== undefined && this.#transport === holder.transport) {
          this.#lost(reason);
        }
      },
    }, this.#options);
    holder.transport = transport;
    if (this.#closed) {
      transport.close();
      throw new ClientClosedError();
    }
    this.#transport = transport;
    this.#lastReceived = Date.now();
    this.#setState("connected", url);
    this.#startHeartbeat();
    try {
      await this.onConnected?.();
    } catch (error) {
      if (this.#transport === transport) transport.close();
      throw error;
    }
    this.#backoff.reset();
    this.#ready = true;
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  #waitReady(cmd: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#readyWaiters.indexOf(wake);
        if (i >= 0) this.#readyWaiters.splice(i, 1);
        reject(new RequestTimeoutError(cmd, timeoutMs));
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        if (this.#closed) reject(new ClientClosedError());
        else resolve();
      };
      this.#readyWaiters.push(wake);
    });
  }

  #onText(text: string): void {
    this.#lastReceived = Date.now();
    const result = parseEnvelope(text);
    if (!result.ok) return;
    const envelope = result.envelope;
    if (isResponse(envelope)) {
      const waiting = this.#waiting.get(envelope.msgId);
      if (!waiting) return;
      this.#waiting.delete(envelope.msgId);
      clearTimeout(waiting.timer);
      waiting.resolve(envelope);
    } else if (isPush(envelope)) {
      for (const handler of this.#pushHandlers.get(envelope.cmd) ?? []) {
        try {
          handler(envelope.data, envelope);
        } catch (error) {
          console.error(`A handler of ${envelope.cmd} threw:`, error);
        }
      }
    } else if (isRequest(envelope)) {
      this.onRequest?.(envelope);
    }
  }

  #lost(reason: string): void {
    this.#transport = undefined;
    this.#ready = false;
    this.#stopHeartbeat();
    this.#failWaiting((cmd) => new ConnectionLostError(cmd));
    if (this.#closed) return;
    this.#setState("disconnected", reason);
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#options.reconnect === false || this.#reconnectTimer !== undefined) {
      return;
    }
    const delay = this.#backoff.next();
    this.#reconnectTimer = setTimeout(async () => {
      this.#reconnectTimer = undefined;
      if (this.#closed || this.#transport) return;
      try {
        await this.#open();
      } catch {
        if (!this.#transport) {
          this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
          this.#setState("disconnected", "reconnect failed");
          this.#scheduleReconnect();
        }
      }
    }, delay);
  }

  #startHeartbeat(): void {
    this.#stopHeartbeat();
    const every = this.#options.heartbeatMs ?? 5000;
    this.#heartbeat = setInterval(() => {
      if (Date.now() - this.#lastReceived > 3 * every) {
        // The gate has been silent for 3 intervals: treat the connection as lost.
        this.#transport?.close();
        return;
      }
      const sent = Date.now();
      this.send(GateCmd.HEART, {}, 3 * every).then(
        () => this.#rttMs = Date.now() - sent,
        () => {},
      );
    }, every);
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #failWaiting(error: (cmd: string) => Error): void {
    const all = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const waiting of all) {
      clearTimeout(waiting.timer);
      waiting.reject(error(waiting.cmd));
    }
  }

  #setState(state: ChannelState, detail?: string): void {
    this.#state = state;
    for (const handler of this.#stateHandlers) {
      try {
        handler(state, detail);
      } catch { /* a listener's fault is its own */ }
    }
  }
}
