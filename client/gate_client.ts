/**
 * `GateClient`: what users' programs and pages use to talk to a gate (DESIGN.md, "The clients").
 *
 * @example
 * ```ts
 * import { GateClient } from "./mod.ts";
 * const client = new GateClient({ url: "ws://127.0.0.1:8080/ws" });
 * await client.connect();
 * const response = await client.request("echo", { hello: "world" });
 * client.on("sc_msg_kicked", (data) => console.log("kicked", data));
 * client.close();
 * ```
 * @module
 */

import { type PushEnvelope, type ResponseEnvelope, State } from "../shared/mod.ts";
import { ResponseError } from "./errors.ts";
import {
  type ChannelState,
  GateChannel,
  type GateChannelOptions,
  type RequestOptions,
} from "./gate_channel.ts";

/** Options of {@linkcode GateClient}. */
export type GateClientOptions = GateChannelOptions;

/** A client of the gate: requests, pushes, heartbeat, reconnect. */
export class GateClient {
  /** The connection underneath, for subclasses and helpers. */
  protected readonly channel: GateChannel;
  #reconnectHooks: Array<() => Promise<void>> = [];

  constructor(options: GateClientOptions) {
    this.channel = new GateChannel(options);
    this.channel.onConnected = async () => {
      for (const hook of this.#reconnectHooks) await hook();
    };
  }

  /** Connects; resolves once connected (and logged in again, when a token is held). */
  connect(): Promise<void> {
    return this.channel.connect();
  }

  /**
   * Sends a request and resolves with its response, whatever its state. Rejects with
   * `RequestTimeoutError`, `ConnectionLostError` or `ClientClosedError`.
   */
  request<T = unknown>(
    cmd: string,
    data: unknown = {},
    options?: RequestOptions,
  ): Promise<ResponseEnvelope<T>> {
    return this.channel.request<T>(cmd, data, options);
  }

  /** Like {@linkcode request}, but resolves with `data` and throws `ResponseError` unless OK. */
  async requestOk<T = unknown>(
    cmd: string,
    data: unknown = {},
    options?: RequestOptions,
  ): Promise<T> {
    const response = await this.request<T>(cmd, data, options);
    if (response.state !== State.OK) throw new ResponseError(response);
    return response.data;
  }

  /** Handles pushes of one `cmd`; returns a function that removes the handler. */
  on<T = unknown>(cmd: string, handler: (data: T, push: PushEnvelope) => void): () => void {
    return this.channel.on(cmd, handler as (data: unknown, push: PushEnvelope) => void);
  }

  /** Hears every connection state change; returns a function that stops it. */
  onState(handler: (state: ChannelState, detail?: string) => void): () => void {
    return this.channel.onState(handler);
  }

  /** The connection state. */
  get state(): ChannelState {
    return this.channel.state;
  }

  /** The URL of the gate in use. */
  get url(): string {
    return this.channel.url;
  }

  /** The last heartbeat round trip, in milliseconds. */
  get rttMs(): number | undefined {
    return this.channel.rttMs;
  }

  /** Closes the client for good. */
  close(): void {
    this.channel.close();
  }

  /** Adds work that runs after every (re)connect, before queued requests are sent. */
  protected afterConnect(hook: () => Promise<void>): void {
    this.#reconnectHooks.push(hook);
  }
}

export type { ChannelState, RequestOptions };
