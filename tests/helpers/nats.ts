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
  /**
   * Replaces its configuration file (started with `config`) and has it reload it (SIGHUP); waits
   * until it says it reloaded.
   */
  reconfigure(config: string): Promise<void>;
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
 * connect (the password on the command line is for tests only); with `config`, that text is its
 * configuration file (which {@linkcode NatsServer.reconfigure} replaces).
 */
export async function startNats(
  options: { auth?: { user: string; password: string }; config?: string } = {},
): Promise<NatsServer> {
  const [port] = freePorts(1);
  const storeDir = await Deno.makeTempDir({ prefix: "gatehouse_nats_" });
  const configFile = `${storeDir}/nats.conf`;
  let child: Deno.ChildProcess | undefined;
  let seen = "";
  const auth = options.auth ? ["--user", options.auth.user, "--pass", options.auth.password] : [];
  // A reload must see JetStream's settings unchanged (and so in the file) or it is refused.
  const withJetStream = (config: string) =>
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }\n${config}`;
  if (options.config !== undefined) {
    await Deno.writeTextFile(configFile, withJetStream(options.config));
    auth.push("-c", configFile);
  }
  const launch = async () => {
    child = new Deno.Command("nats-server", {
      args: [
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        // With a configuration file, JetStream's settings are in it (a reload must see them).
        ...(options.config === undefined ? ["-js", "-sd", storeDir] : []),
        ...auth,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    seen = "";
    const deadline = Date.now() + 10_000;
    while (!seen.includes("Server is ready")) {
      if (Date.now() > deadline) throw new Error(`nats-server did not start:\n${seen}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`nats-server exited:\n${seen}`);
      seen += value;
    }
    // Keep reading (the pipe must never fill), keeping what it says for reconfigure().
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        seen += value;
      }
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
  const reconfigure = async (config: string) => {
    if (!child) throw new Error("nats-server is not running");
    await Deno.writeTextFile(configFile, withJetStream(config));
    const from = seen.length;
    child.kill("SIGHUP");
    const deadline = Date.now() + 10_000;
    while (seen.indexOf("Reloaded server configuration", from) < 0) {
      if (Date.now() > deadline) throw new Error(`nats-server did not reload:\n${seen}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { url: `nats://127.0.0.1:${port}`, port, storeDir, stop, restart: launch, reconfigure };
}
