/**
 * The head of an HTTP/1.1 request (request line and header fields), parsed from bytes with a
 * size limit: what the gate's HTTP port needs to serve static files, `/healthz`, `/metrics` and
 * the WebSocket upgrade. Bodies are never read: the gate takes only GET and HEAD.
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "./http_request.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
 * console.log(head.method, head.target, head.headers.get("host")); // GET /healthz a
 * ```
 * @module
 */

/** The largest request head the gate reads (request line and every header field). */
export const MAX_HEAD_BYTES = 16 * 1024;

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The request target as sent (`/path?query`, or an absolute URL). */
  target: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  /** Field names in lower case; repeated fields joined with ", ". */
  headers: Map<string, string>;
}

/** A request the gate cannot read: answer `status` with the message, then close. */
export class HttpHeadError extends Error {
  /** The HTTP status to answer (400, 431, 505). */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpHeadError";
    this.status = status;
  }
}

/**
 * Where the head ends in `bytes[0, length)`: the index just past its blank line, or -1 while it
 * has not arrived. `from` is where the previous search stopped.
 */
export function findHeadEnd(bytes: Uint8Array, length: number, from = 0): number {
  for (let i = Math.max(3, from); i < length; i++) {
    if (
      bytes[i] === 0x0a && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d
    ) return i + 1;
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const latin1 = new TextDecoder("latin1");

/** Parses a whole head (ending in a blank line); throws {@linkcode HttpHeadError}. */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  if (bytes.length > MAX_HEAD_BYTES) {
    throw new HttpHeadError(431, `The request head is over ${MAX_HEAD_BYTES} bytes`);
  }
  const lines = latin1.decode(bytes).split("\r\n");
  const [method, target, version, ...extra] = lines[0].split(" ");
  if (extra.length > 0 || !method || !target || !version || !TOKEN.test(method)) {
    throw new HttpHeadError(400, "The request line is malformed");
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpHeadError(505, `HTTP version ${JSON.stringify(version)} is not supported`);
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new HttpHeadError(400, "A header field is malformed");
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(key);
    headers.set(key, before === undefined ? value : `${before}, ${value}`);
  }
  return { method, target, version, headers };
}
