/**
 * Input limits and patterns that the server and the clients share.
 *
 * @module
 */

/** Size of the frame header in bytes. */
export const FRAME_HEADER_BYTES = 32;

/** Default largest frame (header + body) a reader accepts: 1 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Default largest envelope a gate accepts over WebSocket text: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Longest command name. */
export const MAX_CMD_LENGTH = 64;

/**
 * Deepest nesting of arrays and objects an envelope may have (the envelope itself is level 1).
 * Deeper JSON is refused as it arrives: re-serialising it can exhaust the call stack.
 */
export const MAX_JSON_DEPTH = 128;

/** Longest `msg` in a response. */
export const MAX_MSG_LENGTH = 1024;

/** What a command name may contain. */
export const CMD_PATTERN = /^[A-Za-z0-9_.:-]+$/;

/** What usernames and passwords must match (login service). */
export const CREDENTIAL_PATTERN = /^[0-9a-zA-Z]{6,16}$/;
