/**
 * The shared framed-TCP link (server/framed_link.ts) over real loopback sockets: the frames of
 * one turn leave in one write, frames before a bad header are delivered before the fault, a
 * slow reader past the cap is closed, a close after flush lets the last frame out first, and the
 * read buffer stays small while reads are small and grows for a burst.
 */

import assert from "node:assert/strict";
import { encodeFrame, type Frame, FrameDecoder, SYNC_BYTES } from "../../shared/frame.ts";
import { FramedLink, type LinkEnd, MIN_READ_BUFFER_BYTES } from "../../server/framed_link.ts";

/** A listening socket and one connection to it: the server side wrapped in a link. */
async function pair(
  options: {
    maxQueuedBytes?: number;
    schedule?: (flush: () => void) => void;
    maxFrameBytes?: number;
    readBufferBytes?: number;
  } = {},
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

/** Runs `link`, collecting its frames; `until(n)` resolves once `n` frames arrived in all. */
function collect(link: FramedLink): {
  frames: Frame[];
  largestBuffer: () => number;
  until(count: number): Promise<void>;
} {
  const frames: Frame[] = [];
  let largest = link.readBufferBytes;
  let wake = () => {};
  void link.run({
    onFrame(frame) {
      frames.push(frame);
      largest = Math.max(largest, link.readBufferBytes);
      wake();
    },
    onEnd() {},
  });
  return {
    frames,
    largestBuffer: () => largest,
    async until(count) {
      const deadline = Date.now() + 10_000;
      while (frames.length < count) {
        if (Date.now() > deadline) throw new Error(`Only ${frames.length} of ${count} frames`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, 100);
        });
        clearTimeout(timer);
      }
    },
  };
}

Deno.test("FramedLink reads small while idle, grows for a burst, then shrinks back", async () => {
  const { link, peer, stop } = await pair({ maxFrameBytes: 1 << 20 });
  try {
    const seen = collect(link);
    assert.equal(link.readBufferBytes, MIN_READ_BUFFER_BYTES, "a new link reads 4 KiB");
    await peer.write(encodeFrame({ seq: 1, type: 7, body: '{"hi":1}' }));
    await seen.until(1);
    assert.equal(link.readBufferBytes, MIN_READ_BUFFER_BYTES, "a small exchange keeps 4 KiB");

    // A burst: 2 MiB of frames in one write, among them frames larger than any buffer.
    const bodies = Array.from(
      { length: 64 },
      (_, i) => String.fromCharCode(97 + i % 26).repeat(i % 8 === 0 ? 150_000 : 16_000 + i),
    );
    const parts = bodies.map((body, i) => encodeFrame({ seq: 2 + i, type: 7, body }));
    const burst = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      burst.set(part, offset);
      offset += part.length;
    }
    await peer.write(burst);
    await seen.until(1 + bodies.length);
    assert.ok(
      seen.largestBuffer() >= 16 * 1024,
      `reads that fill the buffer grow it (largest ${seen.largestBuffer()} bytes)`,
    );
    assert.ok(seen.largestBuffer() <= 64 * 1024, "never past readBufferBytes (64 KiB)");
    const decoder = new TextDecoder();
    assert.deepEqual(
      seen.frames.slice(1).map((f) => [f.seq, decoder.decode(f.body)]),
      bodies.map((body, i) => [2 + i, body]),
      "every frame of the burst arrives whole and in order",
    );

    // Small frames one at a time: after a few the buffer is back to 4 KiB.
    for (let i = 0; i < 6; i++) {
      await peer.write(encodeFrame({ seq: 100 + i, type: 7, body: "{}" }));
      await seen.until(2 + bodies.length + i);
    }
    assert.equal(link.readBufferBytes, MIN_READ_BUFFER_BYTES, "small reads shrink it back");
  } finally {
    stop();
  }
});

Deno.test("FramedLink never reads with more than readBufferBytes", async () => {
  const { link, peer, stop } = await pair({ maxFrameBytes: 1 << 20, readBufferBytes: 1024 });
  try {
    const seen = collect(link);
    assert.equal(link.readBufferBytes, 1024);
    await peer.write(encodeFrame({ seq: 1, type: 7, body: "x".repeat(100_000) }));
    await seen.until(1);
    assert.equal(seen.frames[0].body.length, 100_000);
    assert.equal(seen.largestBuffer(), 1024);
  } finally {
    stop();
  }
});
