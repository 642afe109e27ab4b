/**
 * The Pinus baseline (Node, `pinus` from npm): a master, one `connector` (hybridconnector: Pinus's
 * WebSocket client protocol) and one `echo` backend (bench/baselines/pinus/app.js), each a process
 * of its own, as `pinus start` runs them. This launcher picks free ports, writes the config into a
 * temporary base folder (config/*.json, and `app` linked to bench/baselines/pinus/app), starts
 * the master with `type=master` (so that it does not spawn the servers itself) and then the two
 * servers with the arguments Pinus's starter would give them, and waits until a real client
 * exchange through the connector succeeds.
 *
 * Usage: `node bench/baselines/pinus_server.mjs [--port 0]`
 * Prints `pinus listening port=<clientPort> master=<pid> connector=<pid> echo=<pid>` when ready;
 * SIGTERM stops the three processes and removes the folder. Their output goes to
 * `<base>/logs/<id>.log` (printed to stderr if the start fails).
 */

import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PinusClient } from "../load/pinus_client.mjs";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { port: { type: "string", default: "0" } },
  strict: true,
});

const HOST = "127.0.0.1";
const here = dirname(fileURLToPath(import.meta.url));
const appDir = join(here, "pinus");
const main = join(appDir, "app.js");

/**
 * The kernel's ephemeral port range (`listen(0)` and outgoing connections take their ports from
 * it), from /proc/sys/net/ipv4/ip_local_port_range.
 */
function ephemeralRange() {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim()
      .split(/\s+/).map(Number);
    if (low > 0 && high >= low) return { low, high };
  } catch { /* not Linux */ }
  return { low: 32768, high: 60999 };
}

/** Whether `port` can be listened on, on every address (as Pinus's RPC servers listen). */
function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

const taken = new Set();

/**
 * A free port for a Pinus process to listen on a moment later. Pinus takes its ports from its
 * config, so they must be picked before its processes start; a port picked with `listen(0)` lies
 * in the ephemeral range, where any process's outgoing connection or `listen(0)` on this (shared,
 * busy) machine may take it in the seconds before the Pinus process binds it. So the port is
 * picked below that range (10000 up to its start), where only an explicit bind can take it, and
 * checked on every address; `listen(0)` only when no such port is free.
 */
async function freePort() {
  const { low } = ephemeralRange();
  const first = 10_000;
  for (let attempt = 0; attempt < 50 && low - first > 1000; attempt++) {
    const port = first + Math.floor(Math.random() * (low - first));
    if (taken.has(port) || !(await canListen(port))) continue;
    taken.add(port);
    return port;
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const masterPort = await freePort();
const connectorPort = await freePort();
const echoPort = await freePort();
const clientPort = Number(values.port) || await freePort();

const base = mkdtempSync(join(tmpdir(), "gatehouse_pinus_"));
mkdirSync(join(base, "config"));
mkdirSync(join(base, "logs"));
symlinkSync(join(appDir, "app"), join(base, "app"), "dir");
const ENV = "production";
const servers = {
  connector: [{
    id: "connector-server-1",
    host: HOST,
    port: connectorPort,
    clientHost: HOST,
    clientPort,
    frontend: true,
  }],
  echo: [{ id: "echo-server-1", host: HOST, port: echoPort }],
};
const master = { id: "master-server-1", host: HOST, port: masterPort };
writeFileSync(join(base, "config", "servers.json"), JSON.stringify({ [ENV]: servers }));
writeFileSync(join(base, "config", "master.json"), JSON.stringify({ [ENV]: master }));
writeFileSync(
  join(base, "config", "log4js.json"),
  JSON.stringify({
    appenders: { console: { type: "console" } },
    categories: { default: { appenders: ["console"], level: "warn" } },
  }),
);

const children = [];
/** Starts one Pinus process with `key=value` arguments, as Pinus's starter does. */
function start(id, args) {
  const log = join(base, "logs", `${id}.log`);
  const out = openLog(log);
  const child = spawn(process.execPath, [main, `env=${ENV}`, ...args], {
    env: { ...process.env, PINUS_BENCH_BASE: base },
    stdio: ["ignore", out, out],
  });
  children.push({ id, child, log });
  child.once("exit", (code, signal) => {
    if (!stopping) fail(`pinus: ${id} exited (code ${code}, signal ${signal})`);
  });
  return child;
}

/** Opens a process's log file for writing (a read-only fd makes every console write throw). */
function openLog(path) {
  return openSync(path, "w");
}

function argsOf(server, serverType) {
  return [
    ...Object.entries(server).map(([key, value]) => `${key}=${value}`),
    `serverType=${serverType}`,
  ];
}

let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  }
  setTimeout(() => {
    for (const { child } of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    rmSync(base, { recursive: true, force: true });
    process.exit(code);
  }, 500);
}
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));

function fail(message) {
  console.error(message);
  for (const { id, log } of children) {
    let text = "";
    try {
      text = readFileSync(log, "utf8");
    } catch { /* none */ }
    console.error(`--- ${id} ---\n${text.slice(-4000)}`);
  }
  stop(1);
}

/** Resolves when `port` accepts a TCP connection, or rejects after `timeoutMs`. */
async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = connect({ host: HOST, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) {
      throw new Error(`Nothing listens on port ${port} after ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const masterChild = start("master", ["type=master"]);
// The servers' monitors connect to the master once, at start, and a server whose connection is
// refused exits: start them when the master listens (seconds on a busy machine, not a fixed pause).
try {
  await waitForPort(masterPort, 30_000);
} catch (error) {
  fail(`pinus: the master did not listen: ${error.message}`);
  await new Promise(() => {}); // stop() exits
}
const echoChild = start("echo-server-1", argsOf(servers.echo[0], "echo"));
const connectorChild = start("connector-server-1", argsOf(servers.connector[0], "connector"));

// Ready when a real request goes through connector and echo. Until the connector knows the echo
// backend it answers {code: 500}: that is "not yet" too, retried after a pause like an error.
const READY_WITHIN_MS = 60_000;
const deadline = Date.now() + READY_WITHIN_MS;
for (;;) {
  let client;
  try {
    client = await PinusClient.connect(`ws://${HOST}:${clientPort}`, { timeoutMs: 2000 });
    const reply = await client.request("echo.echoHandler.echo", { ready: true }, 2000);
    if (reply?.ready === true) break;
    throw new Error(`The connector answered ${JSON.stringify(reply)}`);
  } catch (error) {
    if (Date.now() > deadline) {
      fail(
        `pinus: no echo through the connector within ${READY_WITHIN_MS / 1000} s: ` +
          (error?.message ?? error),
      );
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    client?.close();
  }
}
if (!stopping) {
  console.log(
    `pinus listening port=${clientPort} master=${masterChild.pid} ` +
      `connector=${connectorChild.pid} echo=${echoChild.pid}`,
  );
}
