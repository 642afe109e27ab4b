/**
 * The `WebSocket` option of GateClient: a WebSocket class given by the user (such as the `ws`
 * package's, on a runtime without its own) is the one that connects.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GateClient, State, type WebSocketConstructor } from "../../client/mod.ts";
import { INTEGRATION, startGate } from "../helpers/suite.ts";

Deno.test({
  name: "GateClient connects through the WebSocket class given as its WebSocket option",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const opened: string[] = [];
    class CountingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        opened.push(url);
      }
    }
    const given: WebSocketConstructor = CountingWebSocket;
    const client = new GateClient({ url: gate.wsUrl, reconnect: false, WebSocket: given });
    try {
      await client.connect();
      assert.equal((await client.request("cs_msg_heart")).state, State.OK);
      assert.deepEqual(opened, [gate.wsUrl]);
    } finally {
      client.close();
      await gate.stop();
    }
  },
});
