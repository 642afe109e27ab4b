/**
 * A real `nats-server` on loopback for cluster tests; without one they are ignored (failed in CI).
 * JetStream is on, its store in a temporary directory kept across restarts.
 *
 * @module
 */

import { freePorts } from "./suite.ts";
import { onPath, type RequiredTool, requireTool } from "./tool.ts";

/** A running nats-server. */
export interface NatsServer {
  url: string;
  port: number;
  /** The JetStream store directory. */
  storeDir: string;
  /** Stops it (SIGTERM) and waits. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

/** nats-server for the cluster tests: their `ignore`, and the check that fails them in CI. */
export function natsServerTool(): RequiredTool {
  return requireTool({
    name: "nats-server",
    found: onPath("nats-server"),
    install: "apt-get install nats-server",
  });
}

/**
 * Starts nats-server with JetStream on a free loopback port; with `auth`, only that user may
 * connect (the password on the command line is for tests only).
 */
export async function startNats(
  options: { auth?: { user: string; password: string } } = {},
): Promise<NatsServer> {
  const [port] = freePorts(1);
  const storeDir = await Deno.makeTempDir({ prefix: "gatehouse_nats_" });
  let child: Deno.ChildProcess | undefined;
  const auth = options.auth ? ["--user", options.auth.user, "--pass", options.auth.password] : [];
  const launch = async () => {
    child = new Deno.Command("nats-server", {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...auth],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = Date.now() + 10_000;
    while (!seen.includes("Server is ready")) {
      if (Date.now() > deadline) throw new Error(`nats-server did not start:\n${seen}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`nats-server exited:\n${seen}`);
      seen += value;
    }
    // Keep draining so the pipe never fills.
    (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});
  };
  await launch();
  const stop = async () => {
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    child = undefined;
  };
  return { url: `nats://127.0.0.1:${port}`, port, storeDir, stop, restart: launch };
}
