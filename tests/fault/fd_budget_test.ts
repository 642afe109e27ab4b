/**
 * Sockets are a budget (issue 14): the gate and the license server run under a lowered
 * `ulimit -n`, are filled with unfinished HTTP upgrades and silent TCP connections, refuse the
 * next client cleanly, and serve on every port again once the header deadline has closed the
 * unfinished ones and the rest are released. A gate told to hold more than its fds allow hits
 * `EMFILE` in accept and keeps accepting once descriptors are free again.
 *
 * `run({cases})`: `cases / 500` (1 to 10) fill-and-release cycles of one gate and of one license
 * server, and `cases / 1000` (1 to 5) bursts of `EMFILE` in one gate's accept loops. `deno task
 * soak` runs it at scale 5,000 (10 cycles each, 5 bursts); `deno task test` at 500 (1 of each).
 *
 * @module
 */

import { LicenseClient } from "../../client/mod.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { State } from "../../shared/state_codes.ts";
import { type RunningProcess, startProcess, tempDataDir } from "../helpers/process.ts";
import { connectClient, delay, INTEGRATION, startEcho, waitFor } from "../helpers/suite.ts";
import { makeLicenseDir } from "../license/license_fixtures.ts";
import { openRaw } from "../helpers/raw.ts";
import { RawWebSocket } from "./raw_ws.ts";
import {
  type CaseResult,
  check,
  memoryAfter,
  newResult,
  rssKiB,
  type RunOptions,
  seedFromEnv,
  withSeed,
} from "./harness.ts";

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

/**
 * Every port of the gate serves: /healthz, a WebSocket echo through a service, framed TCP.
 * Returns how many of the three answered; `fail` throws when one did not.
 */
async function everyPortServes(
  gate: LimitedGate,
  fail: (detail: string) => { seed: number; name: string; detail: string },
): Promise<number> {
  const health = await fetch(`${gate.httpUrl}/healthz`);
  const body = await health.json();
  check(health.status === 200 && body.status === "ok", fail(`/healthz: ${JSON.stringify(body)}`));
  for (const url of [gate.wsUrl, gate.tcpUrl]) {
    const client = await connectClient(url);
    try {
      const response = await client.request("echo", { via: url });
      check(response.state === State.OK, fail(`echo over ${url}: ${JSON.stringify(response)}`));
    } finally {
      client.close();
    }
  }
  return 3;
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

function between(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(value)));
}

/** Fill-and-release cycles of one gate under `ulimit -n 256` with a header deadline. */
async function gateFillAndRelease(options: RunOptions): Promise<CaseResult> {
  const row = newResult("gate at ulimit -n 256, fill and release");
  const cycles = between(options.cases / 500, 1, 10);
  const gate = await startLimitedGate(["--header-timeout-ms", String(HEADER_TIMEOUT_MS)]);
  const opened: Deno.TcpConn[] = [];
  const echo = await startEcho(gate);
  try {
    const fail0 = (detail: string) => ({ seed: options.seed, name: row.name, detail });
    const logged = await gate.proc.waitForLine(/max connections max=(\d+) fdLimit=(\d+)/);
    const max = Number(logged[1]);
    const fdLimit = Number(logged[2]);
    check(fdLimit <= FD_LIMIT && fdLimit > FD_LIMIT - 64, fail0(`fd limit ${fdLimit}`));
    check(
      max === Math.floor((fdLimit - 64) * 0.9),
      fail0(`max connections ${max}, not derived from the fd limit ${fdLimit}`),
    );
    const baselineKiB = await rssKiB(gate.proc.child.pid);
    let peakKiB = baselineKiB;
    let slowestRelease = 0;
    for (let cycle = 0; cycle < cycles; cycle++) {
      const fail = (detail: string) => fail0(`cycle ${cycle + 1}: ${detail}`);
      const from = gate.proc.lines.length;
      // Fill the budget (the echo link holds one socket): half unfinished upgrades, half silent
      // framed-TCP connections.
      const half = Math.floor((max - 1) / 2);
      const upgrades = await openSockets(gate.httpUrl, half, "GET /ws HTTP/1.1\r\nHost: x\r\n");
      opened.push(...upgrades);
      const silent = await openSockets(gate.tcpUrl, max - 1 - half);
      opened.push(...silent);
      await waitFor(async () => {
        const text = gate.proc.lines.slice(from).join("\n");
        return !text.includes("accept failed") && (await alive(gate.proc));
      });

      // A fresh client is refused cleanly: over WebSocket with 1013 and the reason, over
      // framed TCP with an Error frame naming it.
      const limitText = new RegExp(`limit of ${max} connections`);
      const refusedWs = await RawWebSocket.open(gate.wsUrl);
      const close = await refusedWs.next(5000);
      refusedWs.close();
      check(
        close.kind === "close" && close.code === 1013 && limitText.test(close.reason),
        fail(`a WebSocket client at the limit got ${JSON.stringify(close)}, not 1013`),
      );
      const refusedTcp = await openRaw(gate.tcpUrl);
      const tcpError = await refusedTcp.next();
      const tcpEnd = await refusedTcp.next();
      refusedTcp.close();
      check(
        limitText.test((tcpError as { text?: string }).text ?? "") && tcpEnd.kind === "close",
        fail(`a framed-TCP client at the limit got ${JSON.stringify([tcpError, tcpEnd])}`),
      );
      // Far past the limit (more sockets than the process may open): closed at once.
      const flood = await openSockets(gate.tcpUrl, FD_LIMIT);
      opened.push(...flood);
      check(await alive(gate.proc), fail("the gate died past its fd limit"));
      const filledKiB = await rssKiB(gate.proc.child.pid);
      peakKiB = Math.max(peakKiB, filledKiB);

      // The header deadline closes the unfinished upgrades.
      const ended = await Promise.all(
        upgrades.map((conn) => closedByPeer(conn, HEADER_TIMEOUT_MS + 5000)),
      );
      const open = ended.filter((e) => !e).length;
      row.unanswered += open;
      check(open === 0, fail(`${open} of ${upgrades.length} unfinished upgrades left open`));
      const releasedAt = performance.now();
      closeAll(opened.splice(0));
      check(await alive(gate.proc), fail("the gate died at the release"));
      await waitFor(async () => {
        const text = await (await fetch(`${gate.httpUrl}/metrics`)).text();
        return /gatehouse_sockets [0-9]\b/.test(text);
      }, { what: "the sockets released", timeoutMs: 15_000 });
      const served = await everyPortServes(gate, fail);
      slowestRelease = Math.max(slowestRelease, performance.now() - releasedAt);

      const sockets = upgrades.length + silent.length + flood.length;
      row.tried += sockets + 2 + served;
      row.faults += sockets;
      // Upgrades closed by the deadline; silent and flood sockets released with every port
      // serving after them; two clean refusals; the probes.
      row.answered += sockets + 2 + served;
      options.log(
        `[fd-budget] gate cycle ${cycle + 1}/${cycles}: ${upgrades.length} unfinished ` +
          `upgrades closed by the deadline, ${silent.length} silent and ${flood.length} flood ` +
          `sockets released, every port serves; RSS filled ${mib(filledKiB)} MiB`,
      );
    }
    const memory = await memoryAfter({ pid: gate.proc.child.pid, baselineKiB });
    check(memory.ok, fail0(`memory not back under its bound: ${memory.line}`));
    row.notes.push(
      `max connections ${max} from fd limit ${fdLimit}; ${cycles} cycles; every port served ` +
        `again at most ${Math.round(slowestRelease)} ms after the release; the gate's RSS ` +
        `${mib(baselineKiB)} → peak ${mib(peakKiB)} → settled ${mib(memory.settledKiB)} MiB`,
    );
    return row;
  } finally {
    closeAll(opened);
    await echo.stop();
    await gate.proc.stop();
  }
}

/** Bursts of `EMFILE` in the accept loops of a gate told to hold more than its fds allow. */
async function acceptAtEmfile(options: RunOptions): Promise<CaseResult> {
  const row = newResult("gate accept loops at EMFILE");
  const bursts = between(options.cases / 1000, 1, 5);
  // Told to hold more than its descriptors allow, the gate runs out of fds in accept.
  const gate = await startLimitedGate(["--max-connections", "5000"]);
  const opened: Deno.TcpConn[] = [];
  const echo = await startEcho(gate);
  const before = await connectClient(gate.tcpUrl);
  try {
    for (let burst = 0; burst < bursts; burst++) {
      const fail = (detail: string) => ({
        seed: options.seed,
        name: row.name,
        detail: `burst ${burst + 1}: ${detail}`,
      });
      const from = gate.proc.lines.length;
      opened.push(...await openSockets(gate.tcpUrl, FD_LIMIT + 50));
      opened.push(...await openSockets(gate.httpUrl, 100));
      const sockets = opened.length;
      await gate.proc.waitForLine(/accept failed, backing off/, { timeoutMs: 10_000, from });
      // Existing connections are served while accept fails.
      const during = await before.request("echo", { during: "EMFILE" });
      check(during.state === State.OK, fail(`an existing client got ${JSON.stringify(during)}`));
      await delay(2500);
      check(await alive(gate.proc), fail("the gate died at EMFILE"));
      const failures = gate.proc.lines.slice(from).filter((line) => line.includes("accept failed"));
      // Once per burst and port, not once per error (the loop retried many times meanwhile).
      check(failures.length <= 4, fail(`${failures.length} accept-failed lines:\n${failures}`));
      closeAll(opened.splice(0));
      await gate.proc.waitForLine(/accepting again/, { timeoutMs: 10_000, from });
      await waitFor(async () => {
        try {
          return (await fetch(`${gate.httpUrl}/healthz`)).status === 200;
        } catch {
          return false;
        }
      }, { what: "/healthz again", timeoutMs: 15_000 });
      const served = await everyPortServes(gate, fail);
      const after = await before.request("echo", { after: "EMFILE" });
      check(after.state === State.OK, fail(`an existing client got ${JSON.stringify(after)}`));
      row.tried += sockets + 2 + served;
      row.faults += sockets;
      row.answered += sockets + 2 + served;
      options.log(
        `[fd-budget] EMFILE burst ${burst + 1}/${bursts}: ${sockets} sockets, ` +
          `${failures.length} accept-failed lines, accepting again, every port serves`,
      );
    }
    row.notes.push(`${bursts} bursts of EMFILE; at most 4 accept-failed lines per burst`);
    return row;
  } finally {
    before.close();
    closeAll(opened);
    await echo.stop();
    await gate.proc.stop();
  }
}

/** Fill-and-release cycles of one license server under `ulimit -n 256`. */
async function licenseFillAndRelease(options: RunOptions): Promise<CaseResult> {
  const row = newResult("license server at ulimit -n 256");
  const cycles = between(options.cases / 500, 1, 10);
  const dataDir = await makeLicenseDir({ seats: 2 });
  const proc = await startProcess({
    task: "license",
    args: ["--port", "0", "--data-dir", dataDir, "--heartbeat-ms", "1000"],
    ready: /license listening tcp=tcp:\/\/(\S+):(\d+)/,
    openFileLimit: FD_LIMIT,
  });
  const port = Number(proc.match[2]);
  const opened: Deno.TcpConn[] = [];
  try {
    const baselineKiB = await rssKiB(proc.child.pid);
    let peakKiB = baselineKiB;
    for (let cycle = 0; cycle < cycles; cycle++) {
      const fail = (detail: string) => ({
        seed: options.seed,
        name: row.name,
        detail: `cycle ${cycle + 1}: ${detail}`,
      });
      opened.push(...await openSockets(`tcp://127.0.0.1:${port}`, FD_LIMIT + 50));
      const sockets = opened.length;
      await delay(1000);
      check(await alive(proc), fail("the license server died"));
      const filledKiB = await rssKiB(proc.child.pid);
      peakKiB = Math.max(peakKiB, filledKiB);
      closeAll(opened.splice(0));
      const client = new LicenseClient();
      try {
        await client.start(
          { port, hostName: `lab-pc-${cycle}`, user: "ada", heartbeatMs: 1000 },
          new MessageTypes(),
          () => {},
        );
        const login = await client.sendLoginReq();
        check(
          login.state === State.OK,
          fail(`a login after the release: ${JSON.stringify(login)}`),
        );
      } finally {
        await client.stop();
      }
      options.log(
        `[fd-budget] license cycle ${cycle + 1}/${cycles}: ${sockets} silent sockets released, ` +
          `a seat taken; RSS filled ${mib(filledKiB)} MiB`,
      );
      row.tried += sockets + 1;
      row.faults += sockets;
      row.answered += sockets + 1;
    }
    const memory = await memoryAfter({ pid: proc.child.pid, baselineKiB });
    check(memory.ok, {
      seed: options.seed,
      name: row.name,
      detail: `memory not back under its bound: ${memory.line}`,
    });
    row.notes.push(
      `${cycles} cycles of ${FD_LIMIT + 50} silent sockets, a seat taken after each; RSS ` +
        `${mib(baselineKiB)} → peak ${mib(peakKiB)} → settled ${mib(memory.settledKiB)} MiB`,
    );
    return row;
  } finally {
    closeAll(opened);
    await proc.stop();
  }
}

/** Every case at the given size (the soak's entry point). */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  const rows: CaseResult[] = [];
  for (const scenario of [gateFillAndRelease, acceptAtEmfile, licenseFillAndRelease]) {
    rows.push(await withSeed({ seed: options.seed, name: scenario.name }, () => scenario(options)));
  }
  return rows;
}

const SEED = seedFromEnv(20_241_124);
const short: RunOptions = { seed: SEED, cases: 500, log: () => {} };

Deno.test({
  name: "fd budget: a gate under ulimit -n 256 refuses past its budget and serves again after",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "fill and release" }, () => gateFillAndRelease(short))
      .then(() => {}),
});

Deno.test({
  name: "fd budget: both gate accept loops survive EMFILE, log once per burst, accept again",
  ...INTEGRATION,
  fn: () => withSeed({ seed: SEED, name: "EMFILE" }, () => acceptAtEmfile(short)).then(() => {}),
});

Deno.test({
  name: "fd budget: the license server under ulimit -n 256 survives a flood of silent sockets",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "license" }, () => licenseFillAndRelease(short)).then(() => {}),
});
