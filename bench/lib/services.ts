/**
 * Starting our services beyond the echo service, each fresh, with the commands and permissions
 * of their deno.json tasks: the login service behind a gate (durable sign-ups), and the license
 * server with a signed license made by the real `license:keygen` / `license:issue` tasks.
 *
 * @module
 */

import { startProcess, taskArgs } from "../../tests/helpers/process.ts";
import { makeLicenseDir } from "../../tests/license/license_fixtures.ts";
import type { StatusData } from "../../server/license/messages.ts";
import { queryStatus } from "../../server/license/status.ts";
import { sleep, spawnTool, track } from "./proc.ts";
import { type OursPeer, startOurs, UNLIMITED_RATE } from "./servers.ts";
import type { BenchContext } from "./types.ts";

/** A gate with the login service linked to it. */
export interface LoginPeer extends OursPeer {
  /** The login service's log lines so far. */
  loginLines: string[];
}

/**
 * Starts a gate (`--rate 1000000 --burst 1000000`, no echo service) and the login service linked
 * over framed TCP (`tcp://`, bench/FINDINGS.md finding 1), with `--hash-cost test` and `flags`
 * (e.g. `--max-batch 1`), on the gate's fresh --data-dir (a new login.sqlite).
 */
export async function startLoginPeer(
  context: BenchContext,
  flags: string[] = [],
): Promise<LoginPeer> {
  const gate = await startOurs(context, { echo: false, gateFlags: UNLIMITED_RATE });
  try {
    const login = await startProcess({
      task: "login",
      args: [
        "--gate",
        gate.tcpUrl,
        "--data-dir",
        gate.dataDir,
        "--name",
        "bench-login",
        "--hash-cost",
        "test",
        ...flags,
      ],
      ready: /registered gate=/,
    });
    const forget = track(() => login.kill());
    return {
      ...gate,
      pids: { ...gate.pids, login: login.child.pid },
      loginLines: login.lines,
      async stop() {
        await login.stop();
        forget();
        await gate.stop();
      },
    };
  } catch (error) {
    await gate.stop();
    throw error;
  }
}

/** A running license server. */
export interface LicensePeer {
  port: number;
  pids: { server: number };
  /** The server's status, asked over TCP the way `license:status` asks. */
  status(): Promise<StatusData>;
  stop(): Promise<void>;
}

/**
 * A folder holding `license.pub` and a `license.json` for `seats` seats, made once by the real
 * tasks (keygen, issue); each server gets a fresh --data-dir with copies of the two files.
 */
export async function makeLicenseFiles(context: BenchContext, seats: number): Promise<string> {
  const made = await makeLicenseDir({ seats, customer: "Gatehouse bench" });
  const dir = await context.tempDir();
  try {
    for (const name of ["license.json", "license.pub"]) {
      await Deno.copyFile(`${made}/${name}`, `${dir}/${name}`);
    }
  } finally {
    await Deno.remove(made, { recursive: true });
  }
  return dir;
}

/**
 * Starts `deno task license --port 0` (its task's command and permissions) on a fresh --data-dir
 * (a new audit database, so that no seat is kept from an earlier server) with the license files
 * of {@linkcode makeLicenseFiles}. Its log goes to `<data-dir>/license.log`, not to a pipe: at
 * thousands of grants a second, reading the lines would cost the harness a third of a core.
 */
export async function startLicensePeer(
  context: BenchContext,
  options: { licenseFiles: string; heartbeatMs: number },
): Promise<LicensePeer> {
  const dataDir = await context.tempDir();
  for (const name of ["license.json", "license.pub"]) {
    await Deno.copyFile(`${options.licenseFiles}/${name}`, `${dataDir}/${name}`);
  }
  const logFile = `${dataDir}/license.log`;
  const args = [
    ...taskArgs("license"),
    "--port",
    "0",
    "--data-dir",
    dataDir,
    "--heartbeat-ms",
    String(options.heartbeatMs),
  ];
  // `exec` keeps the pid: the shell becomes the server.
  const tool = spawnTool("sh", ["-c", 'exec "$@" >"$0" 2>&1', logFile, Deno.execPath(), ...args], {
    name: "license",
  });
  let exited = false;
  tool.status.then(() => exited = true);
  let port = 0;
  const deadline = Date.now() + 30_000;
  while (!port) {
    const text = await Deno.readTextFile(logFile).catch(() => "");
    const match = text.match(/license listening tcp=tcp:\/\/\S+:(\d+)/);
    if (match) port = Number(match[1]);
    else if (exited || Date.now() > deadline) {
      await tool.stop();
      throw new Error(`The license server did not start:\n${text}`);
    } else await sleep(50);
  }
  return {
    port,
    pids: { server: tool.pid },
    status: () => queryStatus({ host: "127.0.0.1", port }),
    stop: () => tool.stop(),
  };
}
