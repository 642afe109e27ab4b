/**
 * `ServiceClient`: what a backend service uses to serve commands through the gate. It registers
 * its commands with `ss_reg_api`, answers forwarded requests, pushes to clients, and after every
 * reconnect registers again.
 *
 * @example
 * ```ts
 * import { ServiceClient } from "./mod.ts";
 * const service = new ServiceClient({ url: "ws://127.0.0.1:8080/ws", sskey, name: "echo" });
 * service.handle("echo", (request) => request.data);
 * await service.start();
 * ```
 * @module
 */

import {
  type CommandRoute,
  DEFAULT_MAX_MESSAGE_BYTES,
  FRAME_HEADER_BYTES,
  GateCmd,
  type GateDown,
  type KeyNotify,
  makeResponse,
  type RequestEnvelope,
  type ResponseEnvelope,
  State,
  type UserBind,
  type UserUnbind,
} from "../shared/mod.ts";
import { ResponseError, ServiceError } from "./errors.ts";
import { type ChannelState, GateChannel, type GateChannelOptions } from "./gate_channel.ts";

/** Options of {@linkcode ServiceClient}. */
export interface ServiceClientOptions extends GateChannelOptions {
  /** The service key of the gate. */
  sskey: string;
  /** This instance's name, for the gate's logs. */
  name: string;
  /** The service's kind (`login`, `group`, …); defaults to `name`. */
  type?: string;
  /**
   * The gate's message limit (its `--max-message-bytes`, 1 MiB by default). An answer larger
   * than this is replaced by a `FAIL` response: the gate would refuse it and drop the link.
   */
  maxMessageBytes?: number;
}

const encoder = new TextEncoder();

/** A request as a handler sees it. */
export interface ServiceRequest<T = unknown> {
  cmd: string;
  data: T;
  /** The gate's id of the sender's connection. */
  clientId: number;
  /** The sender's IP address, as the gate stamped it (`clientAddr`); absent when it sent none. */
  clientAddr?: string;
  /** The sender's bound user, 0 when none. */
  userId: number;
  /**
   * The bound user's username, as the gate stamped it (`userName`, from the login service's
   * binding); absent when no user is bound.
   */
  userName?: string;
  /** Whether the sender is a service link. */
  isServiceLink: boolean;
}

/** A handler returns the response data, or throws {@linkcode ServiceError} for another state. */
export type ServiceHandler<T = unknown> = (
  request: ServiceRequest<T>,
) => unknown | Promise<unknown>;

/** What the gate tells a service when a client leaves. */
export interface ClientLeave {
  clientId: number;
  userId: number;
}

/** A service connected to the gate. */
export class ServiceClient {
  #channel: GateChannel;
  #options: ServiceClientOptions;
  #handlers = new Map<string, ServiceHandler>();
  #routes = new Map<string, CommandRoute>();
  /**
   * The gate events about one client ({clientId, userId}) → their handlers; an event with any is
   * listed in `apis` when registering, in this order.
   */
  #clientEvents = new Map<string, Set<(event: ClientLeave) => void>>(
    [GateCmd.CLIENT_LEAVE, GateCmd.USER_BIND, GateCmd.USER_UNBIND].map((cmd) => [cmd, new Set()]),
  );
  #gateDownHandlers = new Set<(down: GateDown) => void>();
  #registered = false;
  #registeredHandlers = new Set<() => void>();
  #starting?: { resolve(): void; reject(error: Error): void };

  constructor(options: ServiceClientOptions) {
    this.#options = options;
    this.#channel = new GateChannel(options);
    this.#channel.onConnected = () => this.#register();
    this.#channel.onState((state) => {
      if (state !== "connected") this.#registered = false;
    });
    this.#channel.onRequest = (request) => this.#serve(request);
    for (const [cmd, handlers] of this.#clientEvents) {
      this.#channel.on(cmd, (data) => {
        for (const handler of handlers) handler(data as ClientLeave);
      });
    }
    this.#channel.on(GateCmd.GATE_DOWN, (data) => {
      for (const handler of this.#gateDownHandlers) handler(data as GateDown);
    });
  }

  /**
   * Serves `cmd` with `handler`. Call before {@linkcode start}. With `route`, the gate routes
   * the command by a key field of its data (`{by: "groupId"}`: to the instance that claimed the
   * key with {@linkcode claimKey}) or gathers it from every instance (`{gather: "groups"}`: the
   * answers' arrays joined); see shared/key_routes.ts.
   */
  handle<T = unknown>(
    cmd: string,
    handler: ServiceHandler<T>,
    options: { route?: CommandRoute } = {},
  ): this {
    this.#handlers.set(cmd, handler as ServiceHandler);
    if (options.route) this.#routes.set(cmd, options.route);
    else this.#routes.delete(cmd);
    if (this.#registered) this.#register().catch(() => {});
    return this;
  }

  /** Hears `ss_msg_client_leave` for every client that leaves the gate. */
  onClientLeave(handler: (leave: ClientLeave) => void): this {
    return this.#hear(GateCmd.CLIENT_LEAVE, handler);
  }

  /**
   * Hears `ss_msg_gate_down` (cluster mode): a gate died or restarted, and every client in the
   * range it names left. Sent to services that listen for client leaves.
   */
  onGateDown(handler: (down: GateDown) => void): this {
    this.#gateDownHandlers.add(handler);
    return this;
  }

  /**
   * Hears `ss_msg_user_bind`: a user was bound to a client (by `ss_msg_user_login`, on any gate
   * of a cluster).
   */
  onUserBind(handler: (bind: UserBind) => void): this {
    return this.#hear(GateCmd.USER_BIND, handler);
  }

  /**
   * Hears `ss_msg_user_unbind`: a user's binding to a client ended while the client stays open
   * (`ss_msg_user_logout`, or a login of another user on it; on any gate of a cluster). A client
   * that closes is {@linkcode onClientLeave} instead.
   */
  onUserUnbind(handler: (unbind: UserUnbind) => void): this {
    return this.#hear(GateCmd.USER_UNBIND, handler);
  }

  /** Adds a handler of a client event; the first one of an event registers it with the gate. */
  #hear(cmd: string, handler: (event: ClientLeave) => void): this {
    const handlers = this.#clientEvents.get(cmd)!;
    handlers.add(handler);
    if (this.#registered && handlers.size === 1) this.#register().catch(() => {});
    return this;
  }

  /** Hears every connection state change. */
  onState(handler: (state: ChannelState, detail?: string) => void): () => void {
    return this.#channel.onState(handler);
  }

  /**
   * Connects and registers. Resolves once registered, retrying with backoff while the gate is
   * unreachable; rejects when the gate refuses the registration (a wrong key), and then stops.
   * After a lost connection it reconnects and registers again by itself.
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#starting = { resolve, reject };
      this.#channel.connect().catch(() => {/* reconnecting goes on */});
    });
  }

  /** Whether the gate has accepted the registration on the current connection. */
  get registered(): boolean {
    return this.#registered;
  }

  /** Hears every successful registration, the first and each after a reconnect. */
  onRegistered(handler: () => void): () => void {
    this.#registeredHandlers.add(handler);
    return () => this.#registeredHandlers.delete(handler);
  }

  /** Sends a request to the gate (an `ss_` command or another service's command). */
  request<T = unknown>(
    cmd: string,
    data: unknown = {},
    options?: { timeoutMs?: number },
  ): Promise<ResponseEnvelope<T>> {
    return this.#channel.request<T>(cmd, data, options);
  }

  /** Pushes `cmd` with `data` to clients; resolves with how many the gate reached. */
  async push(clientIds: number[], cmd: string, data: unknown): Promise<number> {
    const result = await this.#ok<{ reached: number }>(GateCmd.PUSH, { clientIds, cmd, data });
    return result.reached;
  }

  /**
   * Binds a user to a client's connection at the gate; the gate stamps `username` as `userName`
   * on the client's requests until it is unbound.
   */
  async bindUser(
    binding: { clientId: number; userId: number; token?: string; username?: string },
  ): Promise<boolean> {
    const response = await this.request(GateCmd.USER_LOGIN, binding);
    return response.state === State.OK;
  }

  /** Unbinds a user from a client's connection at the gate. */
  async unbindUser(binding: { clientId: number; userId: number }): Promise<boolean> {
    const response = await this.request(GateCmd.USER_LOGOUT, binding);
    return response.state === State.OK;
  }

  /** Pushes `sc_msg_kicked` to a client, then has the gate close it. */
  async kick(kick: { clientId: number; reason: string }): Promise<boolean> {
    const response = await this.request(GateCmd.KICK, kick);
    return response.state === State.OK;
  }

  /**
   * Claims `key` in this service's key space (its type) for this instance: requests routed by
   * that key come here until it is released or this link goes away. Resolves true when claimed
   * (or already held here), false when another instance holds it. `notify` is pushed to its
   * clientIds when the key is lost with this instance.
   */
  async claimKey(key: string, notify?: KeyNotify): Promise<boolean> {
    const response = await this.request(GateCmd.KEY_CLAIM, { key, notify });
    if (response.state === State.OK) return true;
    if (response.state === State.FAIL) return false;
    throw new ResponseError(response);
  }

  /** Adds and removes clientIds told when a claimed key is lost. */
  async notifyKey(change: { key: string; add?: number[]; remove?: number[] }): Promise<void> {
    await this.#ok(GateCmd.KEY_NOTIFY, change);
  }

  /** Releases a key this instance claimed; resolves whether it held it. */
  async releaseKey(key: string): Promise<boolean> {
    const result = await this.#ok<{ released: boolean }>(GateCmd.KEY_RELEASE, { key });
    return result.released;
  }

  /** Stops for good. */
  stop(): void {
    this.#channel.close();
  }

  async #ok<T>(cmd: string, data: unknown): Promise<T> {
    const response = await this.request<T>(cmd, data);
    if (response.state !== State.OK) throw new ResponseError(response);
    return response.data;
  }

  async #register(): Promise<void> {
    const apis = [...this.#handlers.keys()];
    for (const [cmd, handlers] of this.#clientEvents) if (handlers.size > 0) apis.push(cmd);
    const response = await this.#channel.send(GateCmd.REG_API, {
      type: this.#options.type ?? this.#options.name,
      name: this.#options.name,
      sskey: this.#options.sskey,
      apis,
      routes: this.#routes.size > 0 ? Object.fromEntries(this.#routes) : undefined,
    }, this.#options.requestTimeoutMs ?? 10_000);
    if (response.state !== State.OK) {
      const error = new ResponseError(response);
      if (response.state === State.FORBIDDEN || response.state === State.BAD_REQUEST) {
        // Trying again cannot help: stop, and tell start().
        this.#starting?.reject(error);
        this.#starting = undefined;
        queueMicrotask(() => this.stop());
      }
      throw error;
    }
    this.#registered = true;
    this.#starting?.resolve();
    this.#starting = undefined;
    for (const handler of this.#registeredHandlers) handler();
  }

  async #serve(request: RequestEnvelope): Promise<void> {
    const handler = this.#handlers.get(request.cmd);
    let response: ResponseEnvelope;
    if (!handler) {
      response = makeResponse(request, {
        state: State.UNDEFINED_CMD,
        msg: `This service does not serve ${request.cmd}`,
      });
    } else {
      try {
        const data = await handler({
          cmd: request.cmd,
          data: request.data,
          clientId: Number(request.clientId ?? 0),
          clientAddr: typeof request.clientAddr === "string" ? request.clientAddr : undefined,
          userId: request.userId ?? 0,
          userName: typeof request.userName === "string" ? request.userName : undefined,
          isServiceLink: request.is_ss_link === true,
        });
        response = makeResponse(request, { data: data ?? {} });
      } catch (error) {
        if (error instanceof ServiceError) {
          response = makeResponse(request, { state: error.state, msg: error.message });
        } else {
          console.error(`Handler of ${request.cmd} failed:`, error);
          response = makeResponse(request, {
            state: State.FAIL,
            msg: `The service could not handle ${request.cmd}`,
          });
        }
      }
    }
    response.clientId = request.clientId;
    let text = JSON.stringify(response);
    // Room for a frame's header: over framed TCP the gate's limit counts the whole frame.
    const max = (this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES) - FRAME_HEADER_BYTES;
    if (text.length > max || (text.length * 3 > max && encoder.encode(text).length > max)) {
      const tooLarge = makeResponse(request, {
        state: State.FAIL,
        msg: `The answer to ${request.cmd} is over the gate's limit of ${max} bytes`,
      });
      text = JSON.stringify({ ...tooLarge, clientId: request.clientId });
    }
    this.#channel.sendText(text);
  }
}
