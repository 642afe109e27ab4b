/// <reference lib="dom" />
/**
 * The connection bar: the connection state (connecting, connected, disconnected) as it changes,
 * and the last heartbeat round trip, read from `GateClient.rttMs` every second.
 *
 * @module
 */

import type { ChannelState, GateClient } from "../../client/browser.ts";
import { byId } from "./dom.ts";

/** How often the round trip on the page is refreshed. */
export const RTT_REFRESH_MS = 1000;

/** Shows the connection state and heartbeat round trip of a client. */
export class ConnectionPanel {
  #client: GateClient;
  #state = byId("connection-state");
  #rtt = byId("rtt");
  #timer?: ReturnType<typeof setInterval>;

  constructor(client: GateClient) {
    this.#client = client;
    client.onState((state) => this.#showState(state));
    this.#showState(client.state === "disconnected" ? "connecting" : client.state);
    this.#timer = setInterval(() => this.#showRtt(), RTT_REFRESH_MS);
  }

  /** Stops refreshing. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #showState(state: ChannelState): void {
    this.#state.textContent = state;
    this.#state.className = state;
    this.#showRtt();
  }

  #showRtt(): void {
    const rtt = this.#client.rttMs;
    const connected = this.#client.state === "connected";
    if (rtt === undefined) {
      this.#rtt.textContent = connected ? "waiting for the first heartbeat" : "not measured yet";
    } else {
      this.#rtt.textContent = connected
        ? `${rtt} ms`
        : `${rtt} ms (before the connection was lost)`;
    }
  }
}
