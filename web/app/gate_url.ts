/**
 * The gate's WebSocket URL for the page: the page is served by the gate, so the gate is the
 * page's own host, at `/ws`, over `wss://` when the page came over `https://`.
 *
 * @module
 */

/** What of `location` the URL is derived from. */
export interface PageLocation {
  protocol: string;
  host: string;
}

/**
 * The WebSocket URL of the gate that served a page.
 *
 * @example
 * ```ts
 * gateUrl({ protocol: "https:", host: "chat.example:8443" }); // "wss://chat.example:8443/ws"
 * ```
 */
export function gateUrl(location: PageLocation): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}
