/**
 * The browser face of the client library: `GateClient` and `ServiceClient` over WebSocket.
 * Framed TCP and `LicenseClient` need sockets a browser cannot open, so they are not here.
 * `deno task build` bundles this to `web/dist/gatehouse.js`.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./gate_client.ts";
export * from "./gate_channel.ts";
export * from "./service_client.ts";
export * from "./transport.ts";
export { Backoff } from "./backoff.ts";
export * from "../shared/mod.ts";
