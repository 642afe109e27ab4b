/**
 * A real `nats-server` on loopback for cluster tests, or a skip line when it is not installed.
 * JetStream is on, its store in a temporary directory kept across restarts.
 *
 * @module
 */

import { freePorts } from "./suite.ts";

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

/** Whether `nats-server` is on PATH. */
export async function hasNatsServer(): Promise<boolean> {
  try {
    return (await new Deno.Command("nats-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output()).success;
  } catch {
    return false;
  }
}

/** The reason cluster tests are skipped here, or undefined when they can run. */
export async function natsSkipReason(): Promise<string | undefined> {
  if (await hasNatsServer()) return undefined;
  if (Deno.env.get("CI")) throw new Error("nats-server is required in CI but is not on PATH");
  return "skipped: nats-server is not on PATH (apt-get install nats-server)";
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
