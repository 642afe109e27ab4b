/**
 * The protocol module of Gatehouse: envelope types and validation, state codes, the frame codec,
 * the message-type table, command names and input limits. It uses no Deno-only or Node-only API,
 * so that the server, the client library and the web page all import it.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder, parseEnvelope, State } from "../shared/mod.ts";
 * ```
 * @module
 */

export * from "./state_codes.ts";
export * from "./envelope.ts";
export * from "./frame.ts";
export * from "./utf8.ts";
export * from "./message_types.ts";
export * from "./commands.ts";
export * from "./limits.ts";
export * from "./protocol_error.ts";
export * from "./license_messages.ts";
export * from "./group_messages.ts";
export * from "./key_routes.ts";
