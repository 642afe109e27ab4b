/**
 * `deno task echo`: a small service used by tests and benchmarks. It answers `echo` with what it
 * was sent and what the gate told it about the sender, and `echo_sleep`. With `--test-commands`
 * (for tests only) it also serves commands that exercise the gate's service powers for anyone who
 * asks: push to any client, bind any user to the caller, kick any client, list who left. Without
 * the flag they are not registered, so the gate answers them `UNDEFINED_CMD`: an echo service run
 * against a production gate gives nobody those powers.
 *
 * @module
 */

import { ServiceClient, ServiceError } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import { createLogger } from "../log.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { flagsOrExitCode, serveUntilStopped, stopSignal } from "../service_runner.ts";
import { readServiceKey } from "../service_key.ts";
import { integerFlag, parseServiceArgs, SERVICE_FLAGS_HELP } from "../service_flags.ts";
import { MetricsRegistry, processMetrics, serveMetricsIfAsked } from "../metrics.ts";

const HELP = `Gatehouse echo service.

Usage: deno task echo [flags]

${SERVICE_FLAGS_HELP}
  --name NAME       this instance's name (echo-<pid>)
  --heartbeat-ms N  heartbeat interval (5000)
  --test-commands   FOR TESTS ONLY: also serve echo_push, echo_bind, echo_kick and echo_leaves,
                    which let any client push to, bind, kick and watch any other; never run
                    this against a gate that real users reach

Commands: echo, echo_sleep {ms}; with --test-commands also echo_push {clientIds?, cmd?, data?},
echo_bind {userId, username?}, echo_kick {clientId, reason?}, echo_leaves (the ss_msg_client_leave events
seen).
`;

/** Most milliseconds `echo_sleep` waits. */
const MAX_SLEEP_MS = 60_000;

/**
 * The echo service's faults (server/process_faults.ts): both exit. It is a tool for tests and
 * benchmarks, where a fault must show as a failure, not be carried on past.
 */
const FAULT_POLICY: FaultPolicy = { rejection: "exit", exception: "exit" };

/** Runs the echo service until SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<number> {
  const parsed = flagsOrExitCode(() => {
    const flags = parseServiceArgs(args, {
      name: { type: "string" },
      "heartbeat-ms": { type: "string" },
      "test-commands": { type: "boolean" },
    });
    return flags.help ? undefined : flags;
  }, HELP);
  if ("code" in parsed) return parsed.code;
  const flags = parsed.flags;
  const name = (flags.values.name as string | undefined) ?? `echo-${Deno.pid}`;
  const log = createLogger(name);
  installFaultHandlers({ log, policy: FAULT_POLICY });
  const stopping = stopSignal();
  const testCommands = flags.values["test-commands"] === true;
  log.info("starting", { pid: Deno.pid, gate: flags.gate.join(",") });
  if (testCommands) {
    log.warn("TEST COMMANDS ON: any client may push to, bind, kick and watch any other", {
      commands: TEST_COMMANDS.join(","),
    });
  }
  const sskey = await readServiceKey(flags.dataDir);
  const service = new ServiceClient({
    url: flags.gate,
    sskey,
    name,
    type: "echo",
    heartbeatMs: integerFlag("heartbeat-ms", flags.values["heartbeat-ms"], 5000),
  });
  service
    .handle("echo", (request) => ({
      data: request.data,
      clientId: request.clientId,
      clientAddr: request.clientAddr,
      userId: request.userId,
      userName: request.userName ?? null,
      isServiceLink: request.isServiceLink,
      instance: name,
    }))
    .handle<{ ms?: unknown }>("echo_sleep", async (request) => {
      const ms = request.data?.ms;
      if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > MAX_SLEEP_MS) {
        throw new ServiceError(
          State.BAD_REQUEST,
          `Field ms must be a number from 0 to ${MAX_SLEEP_MS}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { instance: name, slept: ms };
    });
  if (testCommands) installTestCommands(service);
  // The process metrics only: echo has no state of its own to report.
  const metrics = new MetricsRegistry();
  const stopSampling = processMetrics(metrics);
  const metricsServer = await serveMetricsIfAsked({ registry: metrics, ...flags.metrics, log });

  const { code, signal } = await serveUntilStopped({
    service,
    log,
    gate: flags.gate,
    name,
    stopping,
  });
  log.info("stopping", { signal });
  service.stop();
  stopSampling();
  await metricsServer?.stop();
  log.info("stopped", { name });
  return code;
}

/** The commands registered only with `--test-commands`. */
export const TEST_COMMANDS = ["echo_push", "echo_bind", "echo_kick", "echo_leaves"] as const;

/**
 * The `--test-commands` commands: each uses a service's power (push, bind, kick, client-leave
 * events) on behalf of whoever asks, which tests need and production must never offer.
 */
function installTestCommands(service: ServiceClient): void {
  const leaves: Array<{ clientId: number; userId: number }> = [];
  service
    .handle<{ clientIds?: unknown; cmd?: unknown; data?: unknown }>(
      "echo_push",
      async (request) => {
        const ids = request.data?.clientIds ?? [request.clientId];
        const cmd = request.data?.cmd ?? "sc_msg_echo";
        if (!Array.isArray(ids) || typeof cmd !== "string") {
          throw new ServiceError(
            State.BAD_REQUEST,
            "Fields clientIds and cmd must be an array and a string",
          );
        }
        const reached = await service.push(ids, cmd, request.data?.data ?? {});
        return { reached };
      },
    )
    .handle<{ userId?: unknown; username?: unknown }>("echo_bind", async (request) => {
      const userId = request.data?.userId;
      if (typeof userId !== "number") {
        throw new ServiceError(State.BAD_REQUEST, "Field userId must be a number");
      }
      const username = request.data?.username;
      if (username !== undefined && typeof username !== "string") {
        throw new ServiceError(State.BAD_REQUEST, "Field username must be a string");
      }
      // The gate checks the username's rule and answers false when it fails it.
      const bound = await service.bindUser({ clientId: request.clientId, userId, username });
      return { bound };
    })
    .handle<{ clientId?: unknown; reason?: unknown }>("echo_kick", async (request) => {
      const clientId = request.data?.clientId;
      if (typeof clientId !== "number") {
        throw new ServiceError(State.BAD_REQUEST, "Field clientId must be a number");
      }
      const reason = typeof request.data?.reason === "string"
        ? request.data.reason
        : "Kicked by echo";
      return { kicked: await service.kick({ clientId, reason }) };
    })
    .handle("echo_leaves", () => ({ leaves }))
    .onClientLeave((leave) => {
      leaves.push(leave);
      if (leaves.length > 10_000) leaves.shift();
    });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
