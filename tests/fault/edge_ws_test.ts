/**
 * The gate's WebSocket endpoint at the edge (issue 14): a message cut into many fragments is
 * refused with 1009 as soon as it passes `--max-message-bytes`, with the gate's memory bounded
 * and another client served throughout; invalid UTF-8 in a text message closes with 1007; a
 * fragmented message under the limit is delivered whole.
 *
 * @module
 */

import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { connectClient, INTEGRATION, startEcho, startGate } from "../helpers/suite.ts";
import { rssKiB } from "./harness.ts";
import { Opcode, RawWebSocket, type WsEvent } from "./raw_ws.ts";

const encoder = new TextEncoder();
const KiB = 1024;
const MiB = 1024 * KiB;

/** Waits for the close event, skipping text the gate sent before it. */
async function closeOf(ws: RawWebSocket, timeoutMs = 10_000): Promise<WsEvent & { kind: "close" }> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const event = await ws.next(Math.max(1, deadline - Date.now()));
    if (event.kind === "close") return event;
    if (event.kind === "eof") throw new Error("The gate ended the stream without a close frame");
  }
}

/**
 * Sends one message as `fragments` frames of `size` bytes; returns how many were written before
 * the gate's refusal arrived (-1 when a write failed first, `undefined` when it never did).
 */
async function sendFragmented(
  ws: RawWebSocket,
  options: { opcode: number; fragments: number; size: number },
): Promise<number | undefined> {
  const payload = new Uint8Array(options.size).fill(0x61); // "a": valid UTF-8
  let closedAt: number | undefined;
  try {
    for (let i = 0; i < options.fragments; i++) {
      // The gate sends nothing to this client but its refusal (an error, then the close).
      if (ws.received > 0) {
        closedAt ??= i;
        // The gate reads and drops the rest until the peer answers its close (at most 1 s).
      }
      await ws.sendFrame({
        opcode: i === 0 ? options.opcode : Opcode.CONTINUATION,
        fin: i === options.fragments - 1,
        payload,
      });
      // A write that the kernel takes at once resolves without a turn of the event loop: let
      // this process's reader see what the gate sent.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } catch {
    // The gate closed the socket after refusing the message: expected.
    closedAt ??= -1;
  }
  return closedAt;
}

Deno.test({
  name: "edge: a fragmented message past the limit is refused with 1009, memory stays bounded",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate({ flags: ["--max-message-bytes", String(MiB)] });
    const echo = await startEcho(gate);
    const client = await connectClient(gate.wsUrl);
    try {
      // A warm-up, so that the baseline includes what serving a client costs.
      for (let i = 0; i < 50; i++) await client.request("echo", { i });
      const baselineKiB = await rssKiB(gate.child.pid);

      // Another client is served throughout.
      let served = 0;
      let failed = 0;
      let attacking = true;
      const steady = (async () => {
        while (attacking) {
          const response = await client.request("echo", { n: served });
          if (response.state === State.OK) served++;
          else failed++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();

      // Two attackers in parallel, each 64 × 256 KiB (16 MiB) against a 1 MiB limit, text and
      // binary; and the gate's memory read while they send.
      let peakKiB = baselineKiB;
      const sampler = setInterval(async () => {
        peakKiB = Math.max(peakKiB, await rssKiB(gate.child.pid).catch(() => 0));
      }, 50);
      const attackers = await Promise.all([
        RawWebSocket.open(gate.wsUrl),
        RawWebSocket.open(gate.wsUrl),
      ]);
      const [closedA, closedB] = await Promise.all([
        sendFragmented(attackers[0], { opcode: Opcode.TEXT, fragments: 64, size: 256 * KiB }),
        sendFragmented(attackers[1], { opcode: Opcode.BINARY, fragments: 64, size: 256 * KiB }),
      ]);
      const closes = await Promise.all(attackers.map((ws) => closeOf(ws)));
      clearInterval(sampler);
      peakKiB = Math.max(peakKiB, await rssKiB(gate.child.pid));
      attacking = false;
      await steady;
      for (const ws of attackers) ws.close();

      for (const close of closes) {
        assert.equal(close.code, 1009, `close ${JSON.stringify(close)}`);
        assert.match(close.reason, /over the limit of 1048576 bytes/);
      }
      // Refused as soon as the limit was passed (the 5th fragment makes 1.25 MiB), not at the
      // end of the message: each attacker saw the close before it had sent everything.
      for (const closedAt of [closedA, closedB]) {
        assert.ok(closedAt !== undefined && closedAt < 64, `close seen at fragment ${closedAt}`);
      }
      // At most about the limit per connection (2 MiB for both) plus generous slack; the old
      // gate grew by every byte sent (32 MiB here, 1 GiB and a crash in the issue).
      const grewMiB = (peakKiB - baselineKiB) / 1024;
      console.log(`[edge] gate RSS ${baselineKiB} KiB → peak ${peakKiB} KiB during the attack`);
      assert.ok(grewMiB < 24, `the gate grew by ${grewMiB.toFixed(1)} MiB`);
      assert.equal(failed, 0, "every request of the other client answered OK");
      assert.ok(served > 0, "the other client was served during the attack");
      assert.equal((await client.request("echo", { after: true })).state, State.OK);
    } finally {
      client.close();
      await echo.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name: "edge: invalid UTF-8 in a text message closes with 1007; fragments under the limit work",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const echo = await startEcho(gate);
    try {
      await t.step("invalid UTF-8 in one frame: 1007", async () => {
        const ws = await RawWebSocket.open(gate.wsUrl);
        await ws.sendFrame({ opcode: Opcode.TEXT, payload: new Uint8Array([0x7b, 0xff, 0xfe]) });
        const close = await closeOf(ws);
        ws.close();
        assert.equal(close.code, 1007);
        assert.match(close.reason, /not valid UTF-8/);
      });
      await t.step("invalid UTF-8 split over fragments (a cut character): 1007", async () => {
        const ws = await RawWebSocket.open(gate.wsUrl);
        // "é" is C3 A9; the second fragment ends the message after a lone C3.
        await ws.sendFrame({ opcode: Opcode.TEXT, fin: false, payload: encoder.encode('{"a":"') });
        await ws.sendFrame({ opcode: Opcode.CONTINUATION, payload: new Uint8Array([0xc3]) });
        const close = await closeOf(ws);
        ws.close();
        assert.equal(close.code, 1007);
      });
      await t.step("a request in three fragments, with a ping between, is served", async () => {
        const ws = await RawWebSocket.open(gate.wsUrl);
        const text = JSON.stringify({ cmd: "echo", is_req: true, msgId: 7, data: { x: "é" } });
        const bytes = encoder.encode(text);
        const third = Math.floor(bytes.length / 3);
        await ws.sendFrame({ opcode: Opcode.TEXT, fin: false, payload: bytes.subarray(0, third) });
        await ws.sendFrame({ opcode: Opcode.PING, payload: encoder.encode("p") });
        await ws.sendFrame({
          opcode: Opcode.CONTINUATION,
          fin: false,
          payload: bytes.subarray(third, 2 * third),
        });
        await ws.sendFrame({ opcode: Opcode.CONTINUATION, payload: bytes.subarray(2 * third) });
        const events: WsEvent[] = [await ws.next(), await ws.next()];
        ws.close();
        assert.deepEqual(events[0], { kind: "pong", bytes: encoder.encode("p") });
        assert.equal(events[1].kind, "text");
        const response = JSON.parse((events[1] as { text: string }).text);
        assert.equal(response.msgId, 7);
        assert.equal(response.state, State.OK);
        assert.deepEqual(response.data.data, { x: "é" });
      });
      await t.step("a continuation with nothing to continue: 1002", async () => {
        const ws = await RawWebSocket.open(gate.wsUrl);
        await ws.sendFrame({ opcode: Opcode.CONTINUATION, payload: encoder.encode("x") });
        const close = await closeOf(ws);
        ws.close();
        assert.equal(close.code, 1002);
      });
    } finally {
      await echo.stop();
      await gate.stop();
    }
  },
});
