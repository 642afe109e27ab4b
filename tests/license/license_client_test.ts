/**
 * LicenseClient against the real server process, against a fake server that accepts and never
 * answers (the fault of a hung server), through a proxy that drops the connection, and against
 * a server that sends what it should not.
 */

import assert from "node:assert/strict";
import {
  LicenseClient,
  type LicenseStatusEvent,
  type LicenseStatusKind,
} from "../../client/license_client.ts";
import { encodeFrame, FrameDecoder, frameText } from "../../shared/frame.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import { HEARTBEAT_MS, makeLicenseDir, startLicenseServer, waitUntil } from "./license_fixtures.ts";

/** A client with its status events recorded. */
function recorded(): {
  client: LicenseClient;
  events: LicenseStatusEvent[];
  kinds: () => string[];
} {
  const events: LicenseStatusEvent[] = [];
  return { client: new LicenseClient(), events, kinds: () => events.map((e) => e.status) };
}

function onStatus(events: LicenseStatusEvent[]) {
  return (event: LicenseStatusEvent) => events.push(event);
}

function waitForStatus(
  events: LicenseStatusEvent[],
  status: LicenseStatusKind,
  options: { from?: number; timeoutMs?: number } = {},
): Promise<LicenseStatusEvent> {
  let found: LicenseStatusEvent | undefined;
  return waitUntil(() => {
    found = events.slice(options.from ?? 0).find((e) => e.status === status);
    return found !== undefined;
  }, { timeoutMs: options.timeoutMs ?? 5000, what: `status ${status}` }).then(() => found!);
}

/** A TCP server of the test's own, handing each accepted connection to `onConn`. */
function fakeServer(onConn: (conn: Deno.TcpConn) => void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.TcpConn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      onConn(conn);
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    conns,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  };
}

/** A proxy to `target` whose `cut()` drops the client side and leaves the server side silent. */
function cuttingProxy(target: number) {
  const pairs: { client: Deno.TcpConn; upstream: Deno.TcpConn; cut: boolean }[] = [];
  const pipe = async (from: Deno.TcpConn, to: Deno.TcpConn, pair: { cut: boolean }) => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        if (pair.cut) continue; // swallowed: the server hears nothing more
        let offset = 0;
        while (offset < n) offset += await to.write(buffer.subarray(offset, n));
      }
    } catch { /* closed */ }
  };
  const server = fakeServer(async (client) => {
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
    const pair = { client, upstream, cut: false };
    pairs.push(pair);
    void pipe(client, upstream, pair);
    void pipe(upstream, client, pair);
  });
  return {
    port: server.port,
    cut() {
      for (const pair of pairs.filter((p) => !p.cut)) {
        pair.cut = true;
        pair.client.close();
      }
    },
    async close() {
      for (const pair of pairs) {
        for (const conn of [pair.client, pair.upstream]) {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      }
      await server.close();
    },
  };
}

const TEST = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...TEST,
  name: "LicenseClient logs in, keeps its seat by heartbeats, queues, is refused, logs out",
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1, customer: "ACME Corp" });
    const server = await startLicenseServer({ dataDir });
    const a = recorded(), b = recorded(), c = recorded();
    const config = { port: server.port, hostName: "lab-pc", heartbeatMs: 1000 };
    try {
      await a.client.start({ ...config, user: "ada" }, new MessageTypes(), onStatus(a.events));
      assert.deepEqual(a.kinds(), ["connected"]);
      const login = await a.client.sendLoginReq();
      assert.deepEqual(login, {
        state: State.OK,
        seats: 1,
        seatsLeft: 0,
        heartbeatMs: HEARTBEAT_MS,
      });
      assert.equal(a.client.licensed, true);
      assert.equal(a.client.heartbeatMs, HEARTBEAT_MS, "the client takes the server's interval");
      assert.deepEqual(a.events.at(-1), {
        status: "licensed",
        seats: 1,
        seatsLeft: 0,
        heartbeatMs: HEARTBEAT_MS,
      });
      const heartbeat = await a.client.sendHeartbeatReq();
      assert.equal(heartbeat.state, State.OK);
      const dog = await a.client.sendGetDogStatusReq();
      assert.equal(dog.customer, "ACME Corp");
      assert.equal(dog.valid, true);

      await b.client.start({ ...config, user: "bob" }, undefined, onStatus(b.events));
      const refused = await b.client.sendLoginReq();
      assert.equal(refused.state, State.FAIL);
      assert.deepEqual(b.events.at(-1), { status: "refused", msg: "All 1 seats are in use" });

      await c.client.start({ ...config, user: "cy", wait: true }, undefined, onStatus(c.events));
      const waiting = c.client.sendLoginReq();
      assert.equal((await waitForStatus(c.events, "queued")).position, 1);

      // Five intervals pass: heartbeats keep the holder's seat.
      await new Promise((r) => setTimeout(r, 5 * HEARTBEAT_MS));
      assert.equal(a.client.licensed, true);
      assert.equal((await server.status()).holders[0].user, "ada");

      const logout = await a.client.sendLogoutReq();
      assert.equal(logout.state, State.OK);
      assert.equal(a.events.at(-1)?.status, "released");
      assert.equal((await waiting).state, State.OK);
      assert.equal(c.events.at(-1)?.status, "licensed");

      await c.client.stop();
      assert.equal(c.events.at(-1)?.status, "stopped");
      await waitUntil(async () => (await server.status()).seatsUsed === 0, {
        what: "the stopped client's seat to be given back",
      });
      assert.ok(server.lines.some((l) => /release .*user=cy .*reason=logout/.test(l)));
      assert.ok(!a.kinds().includes("lost"));
    } finally {
      await Promise.all([a.client.stop(), b.client.stop(), c.client.stop()]);
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  ...TEST,
  name: "LicenseClient detects a silent server within 3 intervals",
  async fn() {
    const hung = fakeServer(() => {}); // accepts, never reads, never writes
    const { client, events, kinds } = recorded();
    try {
      await client.start({ port: hung.port, heartbeatMs: 100 }, undefined, onStatus(events));
      const connectedAt = Date.now();
      const lost = await waitForStatus(events, "lost", { timeoutMs: 3 * 100 + 1500 });
      assert.ok(Date.now() - connectedAt <= 3 * 100 + 1500);
      assert.equal(
        lost.msg,
        "No message from the license server for 3 heartbeat intervals of 100 ms",
      );
      assert.deepEqual(kinds(), ["connected", "lost"]);
      await assert.rejects(client.sendHeartbeatReq(), /not connected/);
    } finally {
      await client.stop();
      await hung.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "LicenseClient reconnects after a dropped connection and keeps one seat",
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 2 });
    // A longer interval, so that the server cannot time out the dropped connection first.
    const server = await startLicenseServer({ dataDir, heartbeatMs: 1000 });
    const proxy = cuttingProxy(server.port);
    const { client, events } = recorded();
    try {
      await client.start(
        { port: proxy.port, reconnect: true, reconnectMinMs: 50, user: "ada", hostName: "pc" },
        undefined,
        onStatus(events),
      );
      assert.equal((await client.sendLoginReq()).state, State.OK);
      const from = events.length;
      proxy.cut();
      assert.match((await waitForStatus(events, "lost", { from })).msg!, /closed/);
      await waitForStatus(events, "reconnecting", { from });
      await waitForStatus(events, "licensed", { from });
      assert.deepEqual(
        events.slice(from).map((e) => e.status),
        ["lost", "reconnecting", "connected", "licensed"],
      );
      const status = await server.status(10);
      assert.equal(status.seatsUsed, 1, "the same seat, not a second one");
      assert.equal(status.holders[0].instanceId, client.instanceId);
      assert.deepEqual(status.audit.map((a) => `${a.event} ${a.reason}`), [
        "grant login",
        "grant reconnect",
      ]);
      assert.ok(server.lines.some((l) => /superseded/.test(l)));
    } finally {
      await client.stop();
      await proxy.close();
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  ...TEST,
  name: "LicenseClient answers faults: Error for an unknown type, Error and close for a bad header",
  async fn() {
    const types = new MessageTypes();
    const received: { type: number; text: string }[] = [];
    const fake = fakeServer(async (conn) => {
      const decoder = new FrameDecoder();
      const buffer = new Uint8Array(4096);
      await conn.write(encodeFrame({ seq: 9, type: 42, body: "{}" }));
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          for (const frame of decoder.push(buffer.subarray(0, n))) {
            received.push({ type: frame.type, text: frameText(frame) });
            if (frame.type === types.number("Error")) {
              await conn.write(new Uint8Array(32).fill(1)); // a header with no sync bytes
            }
          }
        }
      } catch { /* closed */ }
    });
    const { client, events } = recorded();
    try {
      await client.start({ port: fake.port, heartbeatMs: 5000 }, types, onStatus(events));
      const lost = await waitForStatus(events, "lost");
      assert.match(lost.msg!, /The server sent a bad frame: .*sync bytes/);
      const errors = received.filter((r) => r.type === types.number("Error"));
      assert.deepEqual(JSON.parse(errors[0].text), {
        code: State.BAD_REQUEST,
        msg: "Unknown message type 42",
      });
      assert.match(JSON.parse(errors[1].text).msg, /sync bytes/);
    } finally {
      await client.stop();
      await fake.close();
    }
  },
});

Deno.test({
  ...TEST,
  name: "LicenseClient start rejects with a sentence when no server listens",
  async fn() {
    const gone = fakeServer(() => {});
    const port = gone.port;
    await gone.close();
    const client = new LicenseClient();
    await assert.rejects(
      client.start({ port, connectTimeoutMs: 2000 }),
      new RegExp(`Cannot connect to 127\\.0\\.0\\.1:${port}`),
    );
    await assert.rejects(client.sendLoginReq(), /not (started|connected)/);
  },
});
