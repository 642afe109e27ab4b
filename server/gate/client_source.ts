/**
 * Where a client connects from: the address the gate stamps on every request it forwards
 * (`clientAddr`, see `shared/envelope.ts`), which the login service throttles by.
 *
 * A connection's `remote` is always `<address>:<port>`. The address is the socket's peer,
 * except on a WebSocket upgrade that came through a reverse proxy named by `--trust-proxy`:
 * then it is the right-most `X-Forwarded-For` address that is not itself a trusted proxy (the
 * left part of that header is whatever the client wrote, so it is never believed). Without
 * `--trust-proxy`, or when the peer is not a trusted proxy, the header is ignored.
 *
 * @example
 * ```ts
 * const remote = clientSource({
 *   peer: { hostname: "127.0.0.1", port: 51000 },
 *   headers: new Headers({ "x-forwarded-for": "198.51.100.7, 203.0.113.9" }),
 *   trustProxy: ["127.0.0.1"],
 * }); // "203.0.113.9:51000"
 * addressOf(remote); // "203.0.113.9"
 * ```
 * @module
 */

/** Options of {@linkcode clientSource}. */
export interface ClientSourceOptions {
  /** The socket's peer. */
  peer: { hostname: string; port: number };
  /** The upgrade request's headers (framed TCP has none). */
  headers?: { get(name: string): string | null | undefined };
  /** The addresses of trusted reverse proxies (`--trust-proxy`). */
  trustProxy: readonly string[];
}

/** Longest `X-Forwarded-For` header read; past it the header is ignored. */
export const MAX_FORWARDED_FOR_LENGTH = 4096;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-f:.]{2,45}$/;

/**
 * An IP address in the form the gate compares and stamps: lower case, IPv4-mapped IPv6 as
 * IPv4, without brackets; `undefined` when `text` is not an IP address.
 */
export function normalizeAddress(text: string): string | undefined {
  let address = text.trim().toLowerCase();
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  if (address.startsWith("::ffff:") && IPV4.test(address.slice(7))) address = address.slice(7);
  if (IPV4.test(address)) return address;
  if (IPV6.test(address) && address.includes(":") && (address.match(/::/g)?.length ?? 0) <= 1) {
    return address;
  }
  return undefined;
}

/**
 * The `remote` of a connection, `<address>:<port>`: the peer's address, or the client's from
 * `X-Forwarded-For` when the peer is a trusted proxy (the port stays the peer's).
 */
export function clientSource(options: ClientSourceOptions): string {
  const peer = normalizeAddress(options.peer.hostname) ?? options.peer.hostname;
  const forwardedFor = options.headers?.get("x-forwarded-for");
  const client = forwardedClient({ peer, forwardedFor, trustProxy: options.trustProxy });
  return `${client ?? peer}:${options.peer.port}`;
}

function forwardedClient(
  options: { peer: string; forwardedFor?: string | null; trustProxy: readonly string[] },
): string | undefined {
  const header = options.forwardedFor;
  if (!header || header.length > MAX_FORWARDED_FOR_LENGTH) return undefined;
  const trusted = new Set(options.trustProxy.map((a) => normalizeAddress(a) ?? a));
  if (!trusted.has(options.peer)) return undefined;
  const hops = header.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const address = normalizeAddress(hops[i]);
    // A hop that is not an address cannot be trusted, nor anything left of it.
    if (address === undefined) return undefined;
    if (!trusted.has(address)) return address;
  }
  return undefined;
}

/** The address part of a connection's `remote` (`<address>:<port>`). */
export function addressOf(remote: string): string {
  const i = remote.lastIndexOf(":");
  return i < 0 ? remote : remote.slice(0, i);
}
