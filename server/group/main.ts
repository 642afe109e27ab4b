/**
 * `deno task group`: the session-group service (DESIGN.md, "The services"). Groups live in this
 * process's memory only: they end when it stops or loses its gate connection. Any number of
 * instances may run, on one gate or across a cluster: each claims the ids of the groups it holds
 * at the gate, which routes every request naming a group to its instance (group_keys.ts).
 * SIGINT or SIGTERM: the process stops and exits 0.
 *
 * @module
 */

import { ServiceClient } from "../../client/mod.ts";
import { DISPLAY_NAME_RULE } from "../../shared/group_messages.ts";
import { createLogger } from "../log.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { flagsOrExitCode, serveUntilStopped, stopSignal } from "../service_runner.ts";
import { readServiceKey } from "../service_key.ts";
import { integerFlag, parseServiceArgs, SERVICE_FLAGS_HELP } from "../service_flags.ts";
import { MetricsRegistry, processMetrics, serveMetricsIfAsked } from "../metrics.ts";
import { type GroupLimits, GroupRegistry } from "./group_registry.ts";
import { GroupKeys } from "./group_keys.ts";
import { GroupService, type GroupServiceMetrics } from "./group_service.ts";
import { DEFAULT_RECONNECT_GRACE_MS, MAX_RECONNECT_GRACE_MS } from "./reconnect_grace.ts";

/** The limits when no flag says otherwise. */
export const GROUP_DEFAULTS = {
  maxMembers: 1000,
  maxGroupsPerUser: 100,
  maxDataBytes: 16 * 1024,
} as const;

/**
 * Highest `--max-members`: one broadcast is one `ss_msg_push` carrying every member's clientId,
 * and it has to fit in the gate's message limit (1 MiB by default) beside the data.
 */
export const MAX_MEMBERS_LIMIT = 10_000;

/** Highest `--max-data-bytes`, for the same reason. */
export const MAX_DATA_BYTES_LIMIT = 512 * 1024;

const HELP = `Gatehouse group service: session groups that members talk to each other through.

Usage: deno task group [flags]

${SERVICE_FLAGS_HELP}
  --name NAME                this instance's name (group-<pid>)
  --max-members N            most members (connections) in one group (${GROUP_DEFAULTS.maxMembers}; at most ${MAX_MEMBERS_LIMIT})
  --max-groups-per-user N    most groups one user, or one service link, may be in (${GROUP_DEFAULTS.maxGroupsPerUser})
  --max-data-bytes N         largest data of cs_msg_group_send, as JSON (${GROUP_DEFAULTS.maxDataBytes}; at most ${MAX_DATA_BYTES_LIMIT})
  --reconnect-grace-ms N     how long a member whose connection dropped keeps its place, waiting
                             for its user to log in again (${DEFAULT_RECONNECT_GRACE_MS}; 0 turns it off)

A member whose connection drops while logged in is away (sc_msg_group_away): when its user logs
in again on a new connection (by token, after a reload) within --reconnect-grace-ms, it is back
in its groups in the same place (sc_msg_group_back); otherwise it leaves (sc_msg_group_leave).
A logout, a deleted account or a login elsewhere (the gate's ss_msg_user_unbind) counts as a
drop: the connection, which stays open, is no longer a member and hears nothing of the groups.
Messages sent meanwhile are not kept for it.

Commands (logged-in users and services): cs_msg_group_create {groupId?, key?, name?},
cs_msg_group_join {groupId, key, name?}, cs_msg_group_leave {groupId}, cs_msg_group_send
{groupId, data}, cs_msg_group_members {groupId}, cs_msg_group_dismiss {groupId},
cs_msg_group_list. Members are shown to each other by their username, which the gate stamps
from the login; a user that gives name is refused. Only a service link may give name:
${DISPLAY_NAME_RULE}.
Groups live in memory: they end when this process stops or loses its gate connection (the gate
then tells their members with sc_msg_group_dismiss). Run as many instances as you like, on one
gate or across a cluster: the gate routes each group's requests to the instance holding it.
`;

interface GroupFlags {
  gate: string[];
  dataDir: string;
  metrics: { port?: number; host: string };
  name: string;
  limits: GroupLimits;
  maxDataBytes: number;
  reconnectGraceMs: number;
}

/** A limit flag: an integer from 1 to `max`; throws a sentence naming the flag. */
function limitFlag(
  options: { name: string; value: unknown; fallback: number; max?: number },
): number {
  const n = integerFlag(options.name, options.value, options.fallback);
  if (n < 1) throw new TypeError(`Flag --${options.name} must be at least 1`);
  if (options.max !== undefined && n > options.max) {
    throw new TypeError(`Flag --${options.name} must be at most ${options.max}`);
  }
  return n;
}

/** Parses the flags; `undefined` when `--help` is given. Throws a sentence on a bad flag. */
function parseGroupArgs(args: string[]): GroupFlags | undefined {
  const flags = parseServiceArgs(args, {
    name: { type: "string" },
    "max-members": { type: "string" },
    "max-groups-per-user": { type: "string" },
    "max-data-bytes": { type: "string" },
    "reconnect-grace-ms": { type: "string" },
  });
  if (flags.help) return undefined;
  return {
    gate: flags.gate,
    dataDir: flags.dataDir,
    metrics: flags.metrics,
    name: (flags.values.name as string | undefined) ?? `group-${Deno.pid}`,
    limits: {
      maxMembers: limitFlag({
        name: "max-members",
        value: flags.values["max-members"],
        fallback: GROUP_DEFAULTS.maxMembers,
        max: MAX_MEMBERS_LIMIT,
      }),
      maxGroupsPerUser: limitFlag({
        name: "max-groups-per-user",
        value: flags.values["max-groups-per-user"],
        fallback: GROUP_DEFAULTS.maxGroupsPerUser,
      }),
    },
    maxDataBytes: limitFlag({
      name: "max-data-bytes",
      value: flags.values["max-data-bytes"],
      fallback: GROUP_DEFAULTS.maxDataBytes,
      max: MAX_DATA_BYTES_LIMIT,
    }),
    reconnectGraceMs: graceFlag(flags.values["reconnect-grace-ms"]),
  };
}

/** `--reconnect-grace-ms`: an integer from 0 (off) to one day; throws a sentence. */
function graceFlag(value: unknown): number {
  const n = integerFlag("reconnect-grace-ms", value, DEFAULT_RECONNECT_GRACE_MS);
  if (n < 0 || n > MAX_RECONNECT_GRACE_MS) {
    throw new TypeError(
      `Flag --reconnect-grace-ms must be from 0 (off) to ${MAX_RECONNECT_GRACE_MS}, not ${n}`,
    );
  }
  return n;
}

/**
 * The group service's faults (server/process_faults.ts). A rejection nobody handled is
 * contained: the service's only asynchronous work is telling the gate (pushes, kicks), while the
 * registry changes in synchronous steps with no I/O (group_registry.ts), so a failed send leaves
 * every group consistent, and exiting would end every group (they live in memory). An exception
 * thrown out of a callback exits: it may have left the registry half updated (a member counted but
 * not listed), which no later request could be trusted on.
 */
const FAULT_POLICY: FaultPolicy = { rejection: "continue", exception: "exit" };

/** Buckets of the members one message reaches. */
const FANOUT_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

/** The group service's metrics: groups and members now, groups created, messages and fan-out. */
export function groupMetrics(
  metrics: MetricsRegistry,
  registry: GroupRegistry,
): GroupServiceMetrics {
  metrics.gauge({
    name: "gatehouse_group_groups",
    help: "Groups that exist now",
    read: () => registry.size,
  });
  metrics.gauge({
    name: "gatehouse_group_members",
    help: "Members over every group now (a connection in two groups counts twice)",
    read: () => registry.memberships,
  });
  const created = metrics.counter({
    name: "gatehouse_group_created_total",
    help: "Groups created",
  });
  const messages = metrics.counter({
    name: "gatehouse_group_messages_total",
    help: "Messages members sent to their groups",
  });
  const fanout = metrics.histogram({
    name: "gatehouse_group_message_recipients",
    help: "How many other members one message was pushed to",
    buckets: FANOUT_BUCKETS,
  });
  return {
    created: () => created.inc(),
    sent: (recipients) => {
      messages.inc();
      fanout.observe(recipients);
    },
  };
}

/** Runs the group service until SIGINT or SIGTERM; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = flagsOrExitCode(() => parseGroupArgs(args), HELP);
  if ("code" in parsed) return parsed.code;
  const flags = parsed.flags;
  const log = createLogger(flags.name);
  installFaultHandlers({ log, policy: FAULT_POLICY });
  const stopping = stopSignal();
  let sskey: string;
  try {
    sskey = await readServiceKey(flags.dataDir);
  } catch (error) {
    log.error("start failed", { error });
    return 1;
  }

  const service = new ServiceClient({ url: flags.gate, sskey, name: flags.name, type: "group" });
  const registry = new GroupRegistry({ limits: flags.limits });
  const metrics = new MetricsRegistry();
  const groups = new GroupService({
    registry,
    gate: service,
    log,
    maxDataBytes: flags.maxDataBytes,
    reconnectGraceMs: flags.reconnectGraceMs,
    metrics: groupMetrics(metrics, registry),
    keys: new GroupKeys({ gate: service, log }),
  });
  metrics.gauge({
    name: "gatehouse_group_away_connections",
    help: "Dropped connections whose members keep their place for the reconnect grace period",
    read: () => groups.awayConnections,
  });
  const stopSampling = processMetrics(metrics);
  let metricsServer;
  try {
    metricsServer = await serveMetricsIfAsked({ registry: metrics, ...flags.metrics, log });
  } catch (error) {
    log.error("start failed", { error, metricsPort: flags.metrics.port });
    return 1;
  }
  groups.install(service);
  log.info("starting", {
    maxMembers: flags.limits.maxMembers,
    maxGroupsPerUser: flags.limits.maxGroupsPerUser,
    maxDataBytes: flags.maxDataBytes,
    reconnectGraceMs: flags.reconnectGraceMs,
  });

  const { code, signal } = await serveUntilStopped({
    service,
    log,
    gate: flags.gate,
    name: flags.name,
    stopping,
  });
  log.info("stopping", { signal, groups: registry.size });
  service.stop();
  stopSampling();
  await metricsServer?.stop();
  log.info("stopped", { name: flags.name });
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
