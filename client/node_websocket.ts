/**
 * The `ws` package as the WebSocket of runtimes that have none (Node 20). Loaded only when
 * needed, by a dynamic import the bundlers leave alone; browser bundles replace this module
 * with one that returns undefined (client/build.ts), so they never name the package.
 *
 * @module
 */

import type { WebSocketConstructor } from "./transport.ts";

/** The package's name, in a variable: a runtime that has a WebSocket never resolves it. */
const WS_PACKAGE = "ws";

/** The `ws` package's WebSocket class, or undefined when the package is not installed. */
export async function loadNodeWebSocket(): Promise<WebSocketConstructor | undefined> {
  try {
    const module = await import(WS_PACKAGE);
    return (module.WebSocket ?? module.default) as WebSocketConstructor | undefined;
  } catch {
    return undefined;
  }
}
