/**
 * The license server process over TCP: seats, the queue, releases by logout, close and
 * silence, reconnect, a burst of logins, protocol faults, the license file, the audit trail.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { encodeFrame, SYNC_BYTES } from "../../shared/frame.ts";
import { State } from "../../shared/state_codes.ts";
import {
  HEARTBEAT_MS,
  type LicenseServerProcess,
  makeLicenseDir,
  RawConn,
  RELEASE_WITHIN_MS,
  startLicenseServer,
} from "./license_fixtures.ts";

let instances = 0;

function loginBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { instanceId: `inst-${++instances}`, host: "lab-pc", user: "ada", wait: false, ...extra };
}

/** Runs `fn` against a fresh server on a fresh data directory, then cleans both up. */
function serverTest(
  name: string,
  options: { seats?: number; expires?: string },
  fn: (server: LicenseServerProcess, conns: RawConn[]) => Promise<void>,
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dataDir = await makeLicenseDir(options);
      const server = await startLicenseServer({ dataDir });
      const conns: RawConn[] = [];
      try {
        await fn(server, conns);
      } finally {
        await Promise.all(conns.map((c) => c.close()));
        assert.equal(await server.stop(), 0);
        await Deno.remove(dataDir, { recursive: true });
      }
    },
  });
}

async function open(server: LicenseServerProcess, conns: RawConn[], silent = false) {
  const conn = await RawConn.open(server.port, { answerHeartbeats: !silent });
  conns.push(conn);
  return conn;
}

serverTest("two seats: a third login is refused, a queued one is granted when a seat frees", {
  seats: 2,
}, async (server, conns) => {
  const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => open(server, conns)));
  const first = await a.request("LoginReq", loginBody());
  assert.equal(first.name, "LoginRsp");
  assert.deepEqual(first.json, {
    state: State.OK,
    seats: 2,
    seatsLeft: 1,
    heartbeatMs: HEARTBEAT_MS,
  });
  assert.equal((await b.request("LoginReq", loginBody())).json.seatsLeft, 0);

  const refused = await c.request("LoginReq", loginBody());
  assert.equal(refused.json.state, State.FAIL);
  assert.equal(refused.json.msg, "All 2 seats are in use");

  const waitSeq = await d.send("LoginReq", loginBody({ wait: true }));
  const queued = await d.next((f) => f.name === "Envelope");
  assert.equal(queued.json.cmd, "license_queued");
  assert.deepEqual(queued.json.data, { position: 1, seats: 2 });

  const logout = await a.request("LogoutReq", {});
  assert.equal(logout.name, "LogoutRsp");
  assert.equal(logout.json.state, State.OK);
  const granted = await d.next((f) => f.name === "LoginRsp");
  assert.equal(granted.seq, waitSeq, "the LoginRsp carries the queued request's sequence number");
  assert.equal(granted.json.state, State.OK);
  assert.equal(granted.json.seatsLeft, 0);

  const again = await a.request("LogoutReq", {});
  assert.deepEqual(again.json, {
    state: State.FAIL,
    msg: "This connection holds no seat",
    seatsLeft: 0,
  });
  const status = await server.status();
  assert.equal(status.seatsUsed, 2);
  assert.equal(status.waiting.length, 0);
  const dog = await a.request("GetDogStatusReq", {});
  assert.deepEqual(dog.json, {
    state: State.OK,
    present: true,
    valid: true,
    expired: false,
    customer: "Test Customer",
    seats: 2,
    expiresAt: "2099-12-31",
  });
  const heartbeat = await a.request("HeartbeatReq", {});
  assert.equal(heartbeat.name, "HeartbeatRsp");
  assert.equal(heartbeat.json.state, State.OK);
  assert.equal(typeof heartbeat.json.time, "number");
});

serverTest("a logout while queued leaves the queue and answers the waiting login", {
  seats: 1,
}, async (server, conns) => {
  const [a, b] = await Promise.all([open(server, conns), open(server, conns)]);
  await a.request("LoginReq", loginBody());
  const waitSeq = await b.send("LoginReq", loginBody({ wait: true }));
  await b.next((f) => f.name === "Envelope");
  const logout = await b.request("LogoutReq", {});
  assert.equal(logout.json.state, State.OK);
  const cancelled = await b.next((f) => f.seq === waitSeq && f.name === "LoginRsp");
  assert.equal(cancelled.json.state, State.FAIL);
  assert.equal(cancelled.json.msg, "The login was cancelled by a logout");
  assert.equal((await server.status()).waiting.length, 0);
});

serverTest("closing the socket gives the seat back within 3 intervals", { seats: 1 }, async (
  server,
  conns,
) => {
  const a = await open(server, conns);
  const body = loginBody();
  await a.request("LoginReq", body);
  const from = server.lines.length;
  const closedAt = Date.now();
  await a.close();
  await server.proc.waitForLine(
    new RegExp(`release instance=${body.instanceId} .*reason=disconnect`),
    { from, timeoutMs: RELEASE_WITHIN_MS },
  );
  assert.ok(Date.now() - closedAt <= RELEASE_WITHIN_MS);
  const b = await open(server, conns);
  assert.equal((await b.request("LoginReq", loginBody())).json.state, State.OK);
});

serverTest("a client that goes silent but keeps its socket loses its seat within 3 intervals", {
  seats: 2,
}, async (server, conns) => {
  const silent = await open(server, conns, true);
  const healthy = await open(server, conns);
  const body = loginBody();
  await silent.request("LoginReq", body);
  await healthy.request("LoginReq", loginBody());
  const from = server.lines.length;
  const lastFrameAt = Date.now();
  await server.proc.waitForLine(
    new RegExp(`release instance=${body.instanceId} .*reason="heartbeat timeout"`),
    { from, timeoutMs: RELEASE_WITHIN_MS },
  );
  assert.ok(Date.now() - lastFrameAt <= RELEASE_WITHIN_MS);
  const error = await silent.next((f) => f.name === "Error");
  assert.equal(error.json.code, State.TIMEOUT);
  assert.match(String(error.json.msg), /No message arrived for 3 heartbeat intervals of 200 ms/);
  assert.ok(await silent.closedWithin(2000), "the server closes the silent connection");
  // The client that answers the server's heartbeats keeps its seat all the while.
  const status = await server.status();
  assert.equal(status.seatsUsed, 1);
  assert.equal(healthy.eof, false);
});

serverTest("a reconnect with the same instance id takes its own seat back, not a second one", {
  seats: 2,
}, async (server, conns) => {
  const old = await open(server, conns);
  const body = loginBody();
  await old.request("LoginReq", body);
  const fresh = await open(server, conns);
  const rsp = await fresh.request("LoginReq", body);
  assert.equal(rsp.json.state, State.OK);
  assert.equal(rsp.json.seatsLeft, 1, "still one seat held");
  const error = await old.next((f) => f.name === "Error");
  assert.equal(error.json.msg, `Instance ${body.instanceId} logged in again on another connection`);
  assert.ok(await old.closedWithin(2000));
  // The old connection's close releases nothing: the seat moved to the new one.
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS));
  const status = await server.status(10);
  assert.equal(status.seatsUsed, 1);
  assert.equal(status.holders[0].instanceId, body.instanceId);
  assert.deepEqual(status.audit.map((a) => `${a.event} ${a.reason}`), [
    "grant login",
    "grant reconnect",
  ]);
  // The same instance id from another user is refused rather than handed over.
  const thief = await open(server, conns);
  const stolen = await thief.request("LoginReq", { ...body, user: "mallory" });
  assert.equal(stolen.json.state, State.FAIL);
  assert.match(String(stolen.json.msg), /already holds a seat for another host or user/);
});

serverTest("100 concurrent logins for 10 seats grant exactly 10", { seats: 10 }, async (
  server,
  conns,
) => {
  const clients = await Promise.all(Array.from({ length: 100 }, () => open(server, conns)));
  const answers = await Promise.all(
    clients.map((c) => c.request("LoginReq", loginBody(), 10_000)),
  );
  const granted = answers.filter((a) => a.json.state === State.OK);
  const refused = answers.filter((a) => a.json.state === State.FAIL);
  assert.equal(granted.length, 10);
  assert.equal(refused.length, 90);
  assert.ok(refused.every((a) => a.json.msg === "All 10 seats are in use"));
  const left = granted.map((a) => a.json.seatsLeft).sort((x, y) => Number(x) - Number(y));
  assert.deepEqual(left, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const status = await server.status();
  assert.equal(status.seatsUsed, 10);
  assert.equal(status.seatsLeft, 0);
});

serverTest("protocol faults get an Error frame and never crash the server", { seats: 1 }, async (
  server,
  conns,
) => {
  // Unknown type: Error with the frame's sequence number, and the connection stays open.
  const a = await open(server, conns);
  const unknown = await a.request(42, {});
  assert.equal(unknown.name, "Error");
  assert.deepEqual(unknown.json, { code: State.BAD_REQUEST, msg: "Unknown message type 42" });
  // A response type sent to the server is not a request it answers.
  const wrongWay = await a.request("LoginRsp", {});
  assert.equal(wrongWay.name, "Error");
  assert.match(String(wrongWay.json.msg), /LoginRsp is not a request/);
  // Malformed bodies get their response with BAD_REQUEST, and the connection stays open.
  const notJson = await a.request("LoginReq", "{nope");
  assert.equal(notJson.name, "LoginRsp");
  assert.equal(notJson.json.state, State.BAD_REQUEST);
  assert.equal(notJson.json.msg, "The string body is not valid JSON");
  const badField = await a.request("LoginReq", { instanceId: "x y", host: "h", user: "u" });
  assert.equal(badField.json.state, State.BAD_REQUEST);
  assert.match(String(badField.json.msg), /Field instanceId may hold only/);
  const badWait = await a.request("LoginReq", loginBody({ wait: "yes" }));
  assert.equal(badWait.json.msg, "Field wait must be true or false");
  const seq = 77;
  await a.sendBytes(encodeFrame({ seq, type: 1, body: new Uint8Array([0xff, 0xfe]) }));
  const badUtf8 = await a.next((f) => f.seq === seq);
  assert.equal(badUtf8.name, "HeartbeatRsp");
  assert.equal(badUtf8.json.msg, "The string body is not valid UTF-8");
  const envelope = await a.request("Envelope", { cmd: "nope", is_req: true, msgId: 3, data: {} });
  assert.equal(envelope.json.state, State.UNDEFINED_CMD);
  const junkEnvelope = await a.request("Envelope", "[]");
  assert.equal(junkEnvelope.name, "Error");
  assert.equal((await a.request("LoginReq", loginBody())).json.state, State.OK);
  assert.equal(a.eof, false);

  // Header faults: Error naming the fault, then the connection is closed.
  const headerFaults: [string, Uint8Array, RegExp][] = [
    ["bad sync bytes", new Uint8Array(32).fill(7), /sync bytes/],
    ["oversize length", header({ full: 64 * 1024 * 1024 }), /over the limit/],
    ["length shorter than the header", header({ full: 16 }), /shorter than its 32-byte header/],
    ["string body longer than the frame", header({ full: 40, body: 100 }), /string-body length/],
  ];
  for (const [what, bytes, pattern] of headerFaults) {
    const conn = await open(server, conns);
    await conn.sendBytes(bytes);
    const error = await conn.next((f) => f.name === "Error");
    assert.match(String(error.json.msg), pattern, what);
    assert.ok(await conn.closedWithin(2000), `${what}: the connection is closed`);
  }

  // A truncated frame, then the client half-closes: Error, then closed.
  const cut = await open(server, conns);
  const whole = encodeFrame({ seq: 1, type: 1, body: "{}" });
  await cut.sendBytes(whole.subarray(0, 20));
  await cut.closeWrite();
  const cutError = await cut.next((f) => f.name === "Error");
  assert.equal(cutError.json.msg, "The connection closed inside a frame after 20 bytes");
  assert.ok(await cut.closedWithin(2000));

  // A truncated frame and then silence: Error after 3 intervals, then closed.
  const stalled = await open(server, conns, true);
  await stalled.sendBytes(whole.subarray(0, 33));
  const stallError = await stalled.next((f) => f.name === "Error", RELEASE_WITHIN_MS);
  assert.equal(stallError.json.msg, "The connection went silent inside a frame after 33 bytes");
  assert.ok(await stalled.closedWithin(2000));

  // The server is still up and serving.
  const after = await open(server, conns);
  assert.equal((await after.request("HeartbeatReq", {})).json.state, State.OK);
  assert.ok(server.lines.some((l) => /frame error/.test(l)));
});

function header(options: { full: number; body?: number }): Uint8Array {
  const bytes = new Uint8Array(32);
  bytes.set(SYNC_BYTES, 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, options.full);
  view.setUint32(8, 1);
  view.setUint32(12, 1);
  view.setUint32(16, options.body ?? 0);
  return bytes;
}

Deno.test({
  name: "every grant and release goes to the audit table with its reason",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 1 });
    const server = await startLicenseServer({ dataDir });
    const conns: RawConn[] = [];
    try {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => open(server, conns)));
      const [ia, ib, ic] = [loginBody(), loginBody({ wait: true }), loginBody()];
      await a.request("LoginReq", ia);
      await b.send("LoginReq", ib);
      await b.next((f) => f.name === "Envelope");
      await c.request("LoginReq", ic);
      await a.request("LogoutReq", {});
      await b.next((f) => f.name === "LoginRsp");
      await b.close();
      await server.proc.waitForLine(/release .*reason=disconnect/);
      assert.equal(await server.stop(), 0);
      const db = new DatabaseSync(`${dataDir}/license.sqlite`, { readOnly: true });
      const rows = db.prepare(
        "SELECT event, instance_id, user, host, reason, seats_left FROM license_audit ORDER BY id",
      ).all().map((r) => `${r.event} ${r.instance_id} ${r.reason} ${r.seats_left}`);
      db.close();
      assert.deepEqual(rows, [
        `grant ${ia.instanceId} login 0`,
        `queue ${ib.instanceId} position 1 0`,
        `refuse ${ic.instanceId} All 1 seats are in use 0`,
        `release ${ia.instanceId} logout 0`,
        `grant ${ib.instanceId} queue 0`,
        `release ${ib.instanceId} disconnect 1`,
      ]);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "SIGTERM gives every seat back with reason shutdown and exits 0",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 2 });
    const server = await startLicenseServer({ dataDir });
    const conn = await RawConn.open(server.port);
    try {
      await conn.request("LoginReq", loginBody());
      assert.equal(await server.stop(), 0);
      assert.ok(await conn.closedWithin(2000));
      const db = new DatabaseSync(`${dataDir}/license.sqlite`, { readOnly: true });
      const last = db.prepare("SELECT event, reason FROM license_audit ORDER BY id DESC LIMIT 1")
        .get();
      db.close();
      assert.deepEqual({ ...last }, { event: "release", reason: "shutdown" });
    } finally {
      await conn.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

serverTest("random frames and bytes never crash the server", { seats: 3 }, async (
  server,
  conns,
) => {
  // A fixed-seed generator: the same inputs on every run.
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  const bodies = [
    "",
    "null",
    "[]",
    "{}",
    '{"instanceId":1}',
    '{"instanceId":"a","host":"h","user":"u","wait":true}',
    '{"cmd":"license_status","is_req":true,"msgId":1,"data":{"audit":5000}}',
    "\u0000\u0001",
    "x".repeat(5000),
  ];
  for (let round = 0; round < 20; round++) {
    const conn = await open(server, conns);
    for (let i = 0; i < 10; i++) {
      const type = [1, 2, 3, 4, 5, 6, 7, 8, 100, 255, 9, 0][Math.floor(random() * 12)];
      const body = bodies[Math.floor(random() * bodies.length)];
      await conn.send(type, body).catch(() => {});
    }
    if (round % 4 === 0) {
      const junk = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
      await conn.sendBytes(junk).catch(() => {});
    }
  }
  const probe = await open(server, conns);
  const login = await probe.request("LoginReq", loginBody());
  assert.equal(login.name, "LoginRsp");
  assert.ok(!server.lines.some((l) => /handler failed|connection failed|Uncaught/.test(l)));
});
