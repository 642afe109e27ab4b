/**
 * The Gatehouse client library: `GateClient` for users, `ServiceClient` for services, over
 * WebSocket (`ws://`, `wss://`) or framed TCP (`tcp://`, `tls://`).
 *
 * @example
 * ```ts
 * import { GateClient } from "./mod.ts";
 * const client = new GateClient({ url: "tcp://127.0.0.1:8081" });
 * await client.connect();
 * console.log(await client.request("echo", { n: 1 }));
 * ```
 * @module
 */

export * from "./errors.ts";
export * from "./gate_client.ts";
export * from "./gate_channel.ts";
export * from "./service_client.ts";
export * from "./transport.ts";
export { Backoff } from "./backoff.ts";
export * from "./license_client.ts";
export { MessageTypes, State } from "../shared/mod.ts";
export type { Envelope, PushEnvelope, RequestEnvelope, ResponseEnvelope } from "../shared/mod.ts";
