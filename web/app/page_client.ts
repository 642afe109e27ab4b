/**
 * The page's `GateClient`, with one addition: {@linkcode PageClient.reconnect} drops the
 * connection so that the client opens a new one (with its usual backoff). The page uses it
 * after a kick while in a group: group membership belongs to the connection, and a connection
 * without a user cannot leave a group, so a new connection is how the old memberships end (the
 * other members hear "disconnected").
 *
 * @module
 */

import { GateClient } from "../../client/browser.ts";

/** `GateClient` with a way to start over on a new connection. */
export class PageClient extends GateClient {
  /** Drops the current connection; the client reconnects by itself. */
  reconnect(): void {
    this.channel.drop();
  }
}
