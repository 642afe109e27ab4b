/**
 * Peers of the cluster scenario: a `nats-server` on loopback, two gates joined through it
 * (`--cluster`, one shared --data-dir so that they share the service key) with the echo service
 * on gate B only, and a check that a request entering gate A reaches it.
 *
 * @module
 */

import { DEFAULT_MESSAGE_TYPES, encodeFrame, FrameDecoder, frameText } from "../../shared/mod.ts";
import { sleep, spawnTool } from "./proc.ts";
import { type OursPeer, type Peer, startOurs, UNLIMITED_RATE } from "./servers.ts";
import type { BenchContext } from "./types.ts";

/** Whether `nats-server` is on PATH. */
export async function hasNatsServer(): Promise<boolean> {
  try {
    const output = await new Deno.Command("nats-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

/** A running nats-server. */
export interface NatsPeer extends Peer {
  url: string;
}

/** Starts `nats-server` (JetStream on) on loopback on a free port; resolves once it listens. */
export async function startNatsServer(): Promise<NatsPeer> {
  // JetStream on (gates keep their identity in KV), its store in a fresh directory.
  const storeDir = await Deno.makeTempDir({ prefix: "gatehouse_bench_nats_" });
  const tool = spawnTool("nats-server", ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", storeDir], {
    name: "nats-server",
  });
  // nats-server logs to stderr: poll it for the port and the ready line.
  const deadline = Date.now() + 15_000;
  let port: string | undefined;
  while (true) {
    const text = tool.errors.join("\n");
    port ??= text.match(/Listening for client connections on [^\s]+:(\d+)/)?.[1];
    if (port && text.includes("Server is ready")) break;
    if (Date.now() > deadline) {
      await tool.stop();
      throw new Error(`nats-server did not start:\n${text}`);
    }
    await sleep(50);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    pids: { nats: tool.pid },
    stop: () => tool.stop(),
  };
}

/** Two gates joined over NATS, the echo service linked to gate B only. */
export interface ClusterPeer extends Peer {
  /** Gate A, where the load enters. */
  a: OursPeer;
  /** Gate B, where the echo service is. */
  b: OursPeer;
}

/**
 * Starts gates A and B with `--cluster <nats>` (and `--rate 1000000 --burst 1000000`) on one
 * --data-dir (gate and echo of `rootDir`, another checkout, when given: `--before`), the echo
 * service on B over framed TCP (FINDINGS.md findings 1 and 2), and waits
 * until an `echo` request sent to A's framed-TCP port is answered OK.
 */
export async function startClusterPair(
  context: BenchContext,
  options: { natsUrl: string; rootDir?: string },
): Promise<ClusterPeer> {
  const { natsUrl, rootDir } = options;
  const dataDir = await context.tempDir();
  const gate = (id: string, echo: boolean) =>
    startOurs(context, {
      dataDir,
      echo,
      rootDir,
      serviceTransport: "tcp",
      gateFlags: [...UNLIMITED_RATE, "--cluster", natsUrl, "--gate-id", id],
    });
  const a = await gate("a", false);
  let b: OursPeer;
  try {
    b = await gate("b", true);
  } catch (error) {
    await a.stop();
    throw error;
  }
  const stop = async () => {
    await a.stop();
    await b.stop();
  };
  try {
    await untilRouted(a.tcpUrl, "echo", 15_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    a,
    b,
    pids: { gateA: a.pids.gate, gateB: b.pids.gate, echo: b.pids.echo },
    stop,
  };
}

/**
 * Starts gate A (`--cluster`, no service) and the played gate B of `bench/played_gate.ts`, which
 * answers `echo` itself (the hop without gate B's work and its service: bench/FINDINGS.md, finding
 * 21); resolves once a request entering gate A is answered OK.
 */
export async function startPlayedPair(
  context: BenchContext,
  options: { natsUrl: string },
): Promise<Peer & { a: OursPeer }> {
  const a = await startOurs(context, {
    echo: false,
    gateFlags: [...UNLIMITED_RATE, "--cluster", options.natsUrl, "--gate-id", "a"],
  });
  const played = spawnTool(Deno.execPath(), [
    "run",
    "--allow-net",
    "--config",
    "deno.json",
    "bench/played_gate.ts",
    options.natsUrl,
  ], { name: "played_gate" });
  const stop = async () => {
    await a.stop();
    await played.stop();
  };
  try {
    await played.waitForLine(/played gate \d+ on/, 30_000);
    await untilRouted(a.tcpUrl, "echo", 15_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { a, pids: { gateA: a.pids.gate, played: played.pid }, stop };
}

/**
 * Sends `cmd` requests to a gate's framed-TCP port, one every 100 ms, until one is answered OK;
 * rejects after `timeoutMs`. (Gates learn each other's commands from announcements.)
 */
export async function untilRouted(tcpUrl: string, cmd: string, timeoutMs: number): Promise<void> {
  const match = tcpUrl.match(/^tcp:\/\/([^:/]+):(\d+)/);
  if (!match) throw new TypeError(`Not a tcp:// URL: ${tcpUrl}`);
  const conn = await Deno.connect({ hostname: match[1], port: Number(match[2]) });
  const type = DEFAULT_MESSAGE_TYPES.Envelope;
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(64 * 1024);
  const deadline = Date.now() + timeoutMs;
  let last = "";
  try {
    for (let msgId = 1; Date.now() < deadline; msgId++) {
      const body = JSON.stringify({ cmd, is_req: true, msgId, time: Date.now(), data: {} });
      await conn.write(encodeFrame({ seq: msgId, type, body }));
      let answered = false;
      while (!answered) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`The gate closed the connection (last answer: ${last})`);
        for (const frame of decoder.push(buffer.subarray(0, n))) {
          const envelope = JSON.parse(frameText(frame));
          if (envelope.msgId !== msgId) continue;
          if (envelope.state === 1) return;
          last = frameText(frame);
          answered = true;
        }
      }
      await sleep(100);
    }
    throw new Error(`${cmd} was not routed through ${tcpUrl} within ${timeoutMs} ms: ${last}`);
  } finally {
    conn.close();
  }
}
