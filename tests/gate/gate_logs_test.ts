import assert from "node:assert/strict";
import { ResponseError, ServiceClient, State } from "../../client/mod.ts";
import { GATE_LISTENING } from "../../server/supervisor/main.ts";
import { ROOT_DIR, startProcess, taskArgs, tempDataDir } from "../helpers/process.ts";
import { INTEGRATION } from "../helpers/suite.ts";

/** Sends a WebSocket upgrade from `origin` and returns the status line. */
async function upgradeFrom(httpUrl: string, origin: string): Promise<string> {
  const { hostname, port } = new URL(httpUrl);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          `Sec-WebSocket-Version: 13\r\nOrigin: ${origin}\r\n\r\n`,
      ),
    );
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

/** Starts a gate with a connection limit of 2, an allowed origin, and `flags`. */
async function startLoggingGate(flags: string[]) {
  const dataDir = await tempDataDir();
  const gate = await startProcess({
    task: "gate:only",
    args: [
      "--port",
      "0",
      "--tcp-port",
      "0",
      "--data-dir",
      dataDir,
      "--allow-origin",
      "http://good.example",
      "--max-connections",
      "2",
      ...flags,
    ],
    ready: GATE_LISTENING,
  });
  const [, httpUrl, tcpUrl] = gate.match;
  return { gate, httpUrl, tcpUrl };
}

/** Causes the three security events: a wrong service key, a refused origin, the limit. */
async function causeSecurityEvents(
  options: { httpUrl: string; tcpUrl: string; waitForLine(pattern: RegExp): Promise<unknown> },
): Promise<void> {
  const intruder = new ServiceClient({ url: options.tcpUrl, sskey: "not-the-key", name: "x" });
  const error = await intruder.start().then(() => undefined, (e) => e);
  assert.ok(error instanceof ResponseError && error.state === State.FORBIDDEN, String(error));
  intruder.stop();
  assert.equal(await upgradeFrom(options.httpUrl, "http://evil.example"), "HTTP/1.1 403 Forbidden");
  // Past --max-connections 2 a framed-TCP connection is refused; keep them open until it is.
  const { hostname, port } = new URL(options.tcpUrl.replace("tcp:", "http:"));
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 4; i++) conns.push(await Deno.connect({ hostname, port: Number(port) }));
    await options.waitForLine(/connection refused/);
  } finally {
    for (const conn of conns) conn.close();
  }
}

Deno.test({
  name: "gate logs: --log-format json writes only JSON lines; security events carry remote",
  ...INTEGRATION,
  async fn() {
    const { gate, httpUrl, tcpUrl } = await startLoggingGate([
      "--log-format",
      "json",
      "--log-level",
      "debug",
    ]);
    try {
      await causeSecurityEvents({ httpUrl, tcpUrl, waitForLine: (p) => gate.waitForLine(p) });
    } finally {
      assert.equal(await gate.stop(), 0);
    }
    const lines = gate.lines.filter((line) => line.trim() !== "");
    const events = lines.map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`Not a JSON line: ${line}`);
      }
    });
    for (const event of events) {
      assert.equal(event.process, "gate");
      assert.ok(["debug", "info", "warn", "error"].includes(event.level), JSON.stringify(event));
      assert.ok(!Number.isNaN(Date.parse(event.time)), JSON.stringify(event));
    }
    assert.ok(events.some((event) => event.level === "debug"), "--log-level debug was taken");
    for (const name of ["service key refused", "origin refused", "connection refused"]) {
      const event = events.find((e) => e.event === name);
      assert.ok(event, `no ${name} event in:\n${lines.join("\n")}`);
      assert.equal(event.level, "warn");
      assert.match(event.remote, /^127\.0\.0\.1:\d+$/, JSON.stringify(event));
    }
  },
});

Deno.test({
  name: "gate logs: text lines of security events carry remote=",
  ...INTEGRATION,
  async fn() {
    const { gate, httpUrl, tcpUrl } = await startLoggingGate([]);
    try {
      await causeSecurityEvents({ httpUrl, tcpUrl, waitForLine: (p) => gate.waitForLine(p) });
    } finally {
      await gate.stop();
    }
    for (const name of ["service key refused", "origin refused", "connection refused"]) {
      const line = gate.lines.find((l) => l.includes(` WARN gate ${name} `));
      assert.ok(line, `no ${name} line in:\n${gate.lines.join("\n")}`);
      assert.match(line, / remote=127\.0\.0\.1:\d+/);
    }
  },
});

Deno.test("gate: --version prints the version, a bad --log-format one line and a hint", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(`${ROOT_DIR}/deno.json`));
  const run = async (args: string[]) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...taskArgs("gate:only"), ...args],
      cwd: ROOT_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
  };
  const shown = await run(["--version"]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout.trim(), `gatehouse ${version}`);
  const bad = await run(["--log-format", "xml"]);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr.trim(),
    "Flag --log-format must be one of text, json\nRun with --help for the flags",
  );
});
