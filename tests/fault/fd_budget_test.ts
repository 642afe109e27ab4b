/**
 * Sockets are a budget (issue 14): the gate and the license server run under a lowered
 * `ulimit -n`, are filled with unfinished HTTP upgrades and silent TCP connections, refuse the
 * next client cleanly, and serve on every port again once the header deadline has closed the
 * unfinished ones and the rest are released. A gate told to hold more than its fds allow hits
 * `EMFILE` in accept and keeps accepting once descriptors are free again.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LicenseClient } from "../../client/mod.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import { type RunningProcess, startProcess, tempDataDir } from "../helpers/process.ts";
import { connectClient, delay, INTEGRATION, startEcho, waitFor } from "../helpers/suite.ts";
import { makeLicenseDir } from "../license/license_fixtures.ts";
import { openRaw } from "../helpers/raw.ts";
import { RawWebSocket } from "./raw_ws.ts";

const FD_LIMIT = 256;
const HEADER_TIMEOUT_MS = 1500;
const encoder = new TextEncoder();

interface LimitedGate {
  proc: RunningProcess;
  httpUrl: string;
  wsUrl: string;
  tcpUrl: string;
  dataDir: string;
}

async function startLimitedGate(flags: string[]): Promise<LimitedGate> {
  const dataDir = await tempDataDir();
  const proc = await startProcess({
    task: "gate:only",
    args: ["--port", "0", "--tcp-port", "0", "--data-dir", dataDir, ...flags],
    ready: /gate listening http=(\S+) tcp=(\S+) ws=(\S+)/,
    openFileLimit: FD_LIMIT,
  });
  const [, httpUrl, tcpUrl, wsUrl] = proc.match;
  return { proc, httpUrl, tcpUrl, wsUrl, dataDir };
}

function hostPort(url: string): { hostname: string; port: number } {
  const parsed = new URL(url);
  return { hostname: parsed.hostname, port: Number(parsed.port) };
}

/** Opens `count` sockets to `url`, each sending `first` (or nothing); keeps what connected. */
async function openSockets(url: string, count: number, first?: string): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  await Promise.all(Array.from({ length: count }, async () => {
    try {
      const conn = await Deno.connect(hostPort(url));
      conns.push(conn);
      if (first) await conn.write(encoder.encode(first));
    } catch { /* refused by the kernel: counted by the caller */ }
  }));
  return conns;
}

/** Resolves true once the peer has closed `conn` (EOF or reset), false after `timeoutMs`. */
async function closedByPeer(conn: Deno.TcpConn, timeoutMs: number): Promise<boolean> {
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    while (Date.now() < deadline) {
      const n = await Promise.race([conn.read(buffer), timeout]);
      if (n === "timeout") return false;
      if (n === null) return true;
    }
    return false;
  } catch {
    return true;
  } finally {
    clearTimeout(timer);
  }
}

function closeAll(conns: Deno.TcpConn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

function alive(proc: RunningProcess): Promise<boolean> {
  return Promise.race([proc.status.then(() => false), delay(50).then(() => true)]);
}

/** Every port of the gate serves: /healthz, a WebSocket echo through a service, framed TCP. */
async function everyPortServes(gate: LimitedGate): Promise<void> {
  const health = await fetch(`${gate.httpUrl}/healthz`);
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, "ok");
  for (const url of [gate.wsUrl, gate.tcpUrl]) {
    const client = await connectClient(url);
    try {
      const response = await client.request("echo", { via: url });
      assert.equal(response.state, State.OK, `echo over ${url}`);
    } finally {
      client.close();
    }
  }
}

Deno.test({
  name: "fd budget: a gate under ulimit -n 256 refuses past its budget and serves again after",
  ...INTEGRATION,
  async fn() {
    const gate = await startLimitedGate(["--header-timeout-ms", String(HEADER_TIMEOUT_MS)]);
    const opened: Deno.TcpConn[] = [];
    const echo = await startEcho(gate);
    try {
      const logged = await gate.proc.waitForLine(/max connections max=(\d+) fdLimit=(\d+)/);
      const max = Number(logged[1]);
      const fdLimit = Number(logged[2]);
      assert.ok(fdLimit <= FD_LIMIT && fdLimit > FD_LIMIT - 64, `fd limit ${fdLimit}`);
      assert.equal(max, Math.floor((fdLimit - 64) * 0.9), "max connections from the fd limit");

      // Fill the budget (the echo link holds one socket): half unfinished upgrades, half silent
      // framed-TCP connections.
      const half = Math.floor((max - 1) / 2);
      const upgrades = await openSockets(gate.httpUrl, half, "GET /ws HTTP/1.1\r\nHost: x\r\n");
      opened.push(...upgrades);
      const silent = await openSockets(gate.tcpUrl, max - 1 - half);
      opened.push(...silent);
      await waitFor(async () => {
        const text = gate.proc.lines.join("\n");
        return !text.includes("accept failed") && (await alive(gate.proc));
      });

      // A fresh client is refused cleanly: over WebSocket with 1013 and the reason, over
      // framed TCP with an Error frame naming it.
      const refusedWs = await RawWebSocket.open(gate.wsUrl);
      const close = await refusedWs.next(5000);
      refusedWs.close();
      assert.equal(close.kind, "close");
      assert.equal((close as { code?: number }).code, 1013);
      assert.match((close as { reason: string }).reason, new RegExp(`limit of ${max} connections`));
      const refusedTcp = await openRaw(gate.tcpUrl);
      const tcpError = await refusedTcp.next();
      const tcpEnd = await refusedTcp.next();
      refusedTcp.close();
      assert.match((tcpError as { text: string }).text, new RegExp(`limit of ${max} connections`));
      assert.equal(tcpEnd.kind, "close");
      // Far past the limit (more sockets than the process may open): closed at once.
      const flood = await openSockets(gate.tcpUrl, FD_LIMIT);
      opened.push(...flood);
      assert.ok(await alive(gate.proc), "the gate is alive past its fd limit");

      // The header deadline closes the unfinished upgrades.
      const ended = await Promise.all(
        upgrades.map((conn) => closedByPeer(conn, HEADER_TIMEOUT_MS + 5000)),
      );
      assert.equal(ended.filter((e) => !e).length, 0, "every unfinished upgrade was closed");
      closeAll(opened.splice(0));
      assert.ok(await alive(gate.proc));
      await waitFor(async () => {
        const text = await (await fetch(`${gate.httpUrl}/metrics`)).text();
        return /gatehouse_sockets [0-9]\b/.test(text);
      }, { what: "the sockets released", timeoutMs: 15_000 });
      await everyPortServes(gate);
    } finally {
      closeAll(opened);
      await echo.stop();
      await gate.proc.stop();
    }
  },
});

Deno.test({
  name: "fd budget: both gate accept loops survive EMFILE, log once per burst, accept again",
  ...INTEGRATION,
  async fn() {
    // Told to hold more than its descriptors allow, the gate runs out of fds in accept.
    const gate = await startLimitedGate(["--max-connections", "5000"]);
    const opened: Deno.TcpConn[] = [];
    const echo = await startEcho(gate);
    const before = await connectClient(gate.tcpUrl);
    try {
      opened.push(...await openSockets(gate.tcpUrl, FD_LIMIT + 50));
      opened.push(...await openSockets(gate.httpUrl, 100));
      await gate.proc.waitForLine(/accept failed, backing off/, { timeoutMs: 10_000 });
      // Existing connections are served while accept fails.
      assert.equal((await before.request("echo", { during: "EMFILE" })).state, State.OK);
      await delay(2500);
      assert.ok(await alive(gate.proc), "the gate is alive at EMFILE");
      const failures = gate.proc.lines.filter((line) => line.includes("accept failed"));
      // Once per burst and port, not once per error (the loop retried many times meanwhile).
      assert.ok(failures.length <= 4, `${failures.length} accept-failed lines:\n${failures}`);
      closeAll(opened.splice(0));
      await gate.proc.waitForLine(/accepting again/, { timeoutMs: 10_000 });
      await waitFor(async () => {
        try {
          return (await fetch(`${gate.httpUrl}/healthz`)).status === 200;
        } catch {
          return false;
        }
      }, { what: "/healthz again", timeoutMs: 15_000 });
      await everyPortServes(gate);
      assert.equal((await before.request("echo", { after: "EMFILE" })).state, State.OK);
    } finally {
      before.close();
      closeAll(opened);
      await echo.stop();
      await gate.proc.stop();
    }
  },
});

Deno.test({
  name: "fd budget: the license server under ulimit -n 256 survives a flood of silent sockets",
  ...INTEGRATION,
  async fn() {
    const dataDir = await makeLicenseDir({ seats: 2 });
    const proc = await startProcess({
      task: "license",
      args: ["--port", "0", "--data-dir", dataDir, "--heartbeat-ms", "1000"],
      ready: /license listening tcp=tcp:\/\/(\S+):(\d+)/,
      openFileLimit: FD_LIMIT,
    });
    const port = Number(proc.match[2]);
    const opened: Deno.TcpConn[] = [];
    const client = new LicenseClient();
    try {
      opened.push(...await openSockets(`tcp://127.0.0.1:${port}`, FD_LIMIT + 50));
      await delay(1000);
      assert.ok(await alive(proc), "the license server is alive");
      closeAll(opened.splice(0));
      await client.start(
        { port, hostName: "lab-pc", user: "ada", heartbeatMs: 1000 },
        new MessageTypes(),
        () => {},
      );
      const login = await client.sendLoginReq();
      assert.equal(login.state, State.OK, JSON.stringify(login));
    } finally {
      closeAll(opened);
      await client.stop();
      await proc.stop();
    }
  },
});
