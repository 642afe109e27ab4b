import assert from "node:assert/strict";
import { type GateClient, State } from "../../client/mod.ts";
import { connectClient, INTEGRATION, startEcho, startGate } from "../helpers/suite.ts";
import type { RunningProcess } from "../helpers/process.ts";

interface EchoData {
  data: { s: string };
}

/**
 * The gate writes a text frame's header and payload into one buffer, text up to 21,845 UTF-16
 * units encoded in place (server/gate/ws_connection.ts): answers of every header size (7-bit,
 * 16-bit, 64-bit lengths), ASCII and 3-byte characters, on both sides of that limit, arrive whole.
 */
Deno.test({
  name: "gate answers over WebSocket arrive whole across frame header sizes and text lengths",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    let echo: RunningProcess | undefined;
    let client: GateClient | undefined;
    try {
      echo = await startEcho(gate, { url: gate.wsUrl });
      const ws = client = await connectClient(gate.url("ws"));
      const texts: string[] = [];
      // The answer's envelope adds some 100 bytes: these cross the 125/126 and 65,535/65,536
      // payload lengths, and the 21,845-unit limit of the in-place encoding.
      for (let n = 0; n <= 160; n++) texts.push("a".repeat(n));
      for (let n = 65_300; n <= 65_560; n += 13) texts.push("b".repeat(n));
      for (let n = 21_700; n <= 21_900; n += 7) texts.push("€".repeat(n));
      for (let n = 0; n <= 60; n++) texts.push("é".repeat(n) + "x");
      texts.push("😀".repeat(40_000));
      for (const s of texts) {
        const response = await ws.request<EchoData>("echo", { s });
        assert.equal(response.state, State.OK);
        assert.equal(response.data.data.s, s, `a text of ${s.length} units`);
      }
    } finally {
      client?.close();
      await echo?.stop();
      assert.equal(await gate.stop(), 0, "the gate exits 0 on SIGTERM");
    }
  },
});
