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
import { createServer } from "node:net";
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

/** A port that was free a moment ago (listen on 0, read it, close). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
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
  return child;
}

function openLog(path) {
  writeFileSync(path, "");
  return openSync(path);
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

const masterChild = start("master", ["type=master"]);
// The master listens for its servers' monitors; give it a moment before they connect.
await new Promise((resolve) => setTimeout(resolve, 500));
const echoChild = start("echo-server-1", argsOf(servers.echo[0], "echo"));
const connectorChild = start("connector-server-1", argsOf(servers.connector[0], "connector"));
for (const { id, child } of children) {
  child.once("exit", (code, signal) => {
    if (!stopping) fail(`pinus: ${id} exited (code ${code}, signal ${signal})`);
  });
}

// Ready when a real request goes through connector and echo.
const deadline = Date.now() + 60_000;
for (;;) {
  try {
    const client = await PinusClient.connect(`ws://${HOST}:${clientPort}`, { timeoutMs: 2000 });
    const reply = await client.request("echo.echoHandler.echo", { ready: true }, 2000);
    client.close();
    if (reply?.ready === true) break;
  } catch (error) {
    if (Date.now() > deadline) {
      fail(`pinus: no echo through the connector within 60 s: ${error?.message ?? error}`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
if (!stopping) {
  console.log(
    `pinus listening port=${clientPort} master=${masterChild.pid} ` +
      `connector=${connectorChild.pid} echo=${echoChild.pid}`,
  );
}
