/**
 * The shared framed-TCP link (server/framed_link.ts) over real loopback sockets: the frames of
 * one turn leave in one write, frames before a bad header are delivered before the fault, a
 * slow reader past the cap is closed, and a close after flush lets the last frame out first.
 */

import assert from "node:assert/strict";
import { encodeFrame, type Frame, FrameDecoder, SYNC_BYTES } from "../../shared/frame.ts";
import { FramedLink, type LinkEnd } from "../../server/framed_link.ts";

/** A listening socket and one connection to it: the server side wrapped in a link. */
async function pair(
  options: { maxQueuedBytes?: number; schedule?: (flush: () => void) => void } = {},
): Promise<{ link: FramedLink; peer: Deno.TcpConn; closed: Promise<void>; stop(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  let onClose!: () => void;
  const closed = new Promise<void>((resolve) => onClose = resolve);
  const link = new FramedLink(conn, { maxFrameBytes: 1 << 16, ...options, onClose });
  return {
    link,
    peer,
    closed,
    stop() {
      link.close();
      try {
        peer.close();
      } catch { /* already closed */ }
    },
  };
}

/** Reads from `peer` until `count` frames arrived; returns them and how many reads it took. */
async function readFrames(peer: Deno.TcpConn, count: number): Promise<[Frame[], number]> {
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 16 });
  const frames: Frame[] = [];
  const buffer = new Uint8Array(1 << 16);
  let reads = 0;
  while (frames.length < count) {
    const n = await peer.read(buffer);
    if (n === null) break;
    reads++;
    frames.push(...decoder.push(buffer.subarray(0, n)));
  }
  return [frames, reads];
}

Deno.test("FramedLink writes the frames of one turn in one write, in order", async () => {
  const { link, peer, stop } = await pair();
  try {
    for (let seq = 1; seq <= 50; seq++) link.sendFrame({ seq, type: 7, body: `{"n":${seq}}` });
    assert.ok(link.unsentBytes > 0, "the frames wait for the end of the turn");
    const [frames, reads] = await readFrames(peer, 50);
    assert.deepEqual(frames.map((f) => f.seq), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(reads, 1, "50 small frames queued in one turn arrive in one read");
    assert.equal(link.unsentBytes, 0);
  } finally {
    stop();
  }
});

Deno.test("FramedLink flushes when its owner's schedule says so", async () => {
  const flushes: Array<() => void> = [];
  const { link, peer, stop } = await pair({ schedule: (flush) => flushes.push(flush) });
  try {
    link.sendFrame({ seq: 1, type: 7, body: "{}" });
    link.sendFrame({ seq: 2, type: 7, body: "{}" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(flushes.length, 1, "one flush is asked for per burst");
    assert.ok(link.unsentBytes > 0, "nothing is written before the flush runs");
    flushes[0]();
    const [frames] = await readFrames(peer, 2);
    assert.deepEqual(frames.map((f) => f.seq), [1, 2]);
  } finally {
    stop();
  }
});

Deno.test("FramedLink delivers the frames before a bad header, then reports the fault", async () => {
  const { link, peer, stop } = await pair();
  try {
    const seen: number[] = [];
    let end: LinkEnd | undefined;
    const run = link.run({ onFrame: (f) => seen.push(f.seq), onEnd: (e) => end = e });
    const good = encodeFrame({ seq: 5, type: 7, body: "{}" });
    const bad = new Uint8Array(32).fill(0xff);
    const bytes = new Uint8Array(good.length + bad.length);
    bytes.set(good);
    bytes.set(bad, good.length);
    await peer.write(bytes);
    await run;
    assert.deepEqual(seen, [5]);
    assert.equal(end?.cause, "fault");
    assert.match(end?.fault?.message ?? "", /./);
  } finally {
    stop();
  }
});

Deno.test("FramedLink reports the peer closing inside a frame", async () => {
  const { link, peer, stop } = await pair();
  try {
    let end: LinkEnd | undefined;
    const run = link.run({ onFrame: () => {}, onEnd: (e) => end = e });
    await peer.write(new Uint8Array([...SYNC_BYTES, 0, 0]));
    peer.close();
    await run;
    assert.equal(end?.cause, "eof");
    assert.equal(end?.truncatedBytes, 6);
  } finally {
    stop();
  }
});

Deno.test("FramedLink closes a link whose unsent bytes pass the cap", async () => {
  const { link, closed, stop } = await pair({ maxQueuedBytes: 100 });
  try {
    assert.equal(link.sendFrame({ seq: 1, type: 7, body: "x".repeat(40) }), true);
    assert.equal(link.sendFrame({ seq: 2, type: 7, body: "x".repeat(40) }), false);
    assert.equal(link.closed, true);
    await closed;
  } finally {
    stop();
  }
});

Deno.test("FramedLink closeAfterFlush lets the queued frame out, then closes", async () => {
  const { link, peer, closed, stop } = await pair();
  try {
    link.sendFrame({ seq: 9, type: 7, body: '{"bye":true}' });
    link.closeAfterFlush();
    assert.equal(link.closed, true, "closing counts as closed for new frames");
    assert.equal(link.sendFrame({ seq: 10, type: 7, body: "{}" }), false);
    const [frames] = await readFrames(peer, 2);
    assert.deepEqual(frames.map((f) => f.seq), [9], "the queued frame, then the end");
    await closed;
  } finally {
    stop();
  }
});
