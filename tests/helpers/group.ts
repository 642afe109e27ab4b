/**
 * The group service in integration tests: starts it, and finds which of several instances holds
 * a group (route by key: the instance that took the create, as its log says).
 *
 * @example
 * ```ts ignore
 * const gate = await startGate();
 * const instances = [await startGroup(gate), await startGroup(gate)];
 * const [onFirst, onSecond] = await groupsOnEach(client, instances, "room");
 * await Promise.all(instances.map((group) => group.stop()));
 * ```
 * @module
 */

import assert from "node:assert/strict";
import type { GateClient } from "../../client/mod.ts";
import { GroupCmd } from "../../shared/mod.ts";
import type { RunningProcess } from "./process.ts";
import { startService, type StartServiceOptions, waitFor } from "./suite.ts";

/** Options of {@linkcode startGroup}: extra flags (limits), gate URL, name, data dir. */
export type StartGroupOptions = StartServiceOptions;

/** Starts a group service connected to a gate; resolves once it has registered. */
export function startGroup(
  gate: { wsUrl: string; dataDir: string },
  options: StartGroupOptions = {},
): Promise<RunningProcess> {
  return startService("group", gate, options);
}

/** What `cs_msg_group_create` answers, as far as these helpers need it. */
export interface CreatedGroup {
  groupId: string;
  key: string;
}

/** The index of the instance whose log says it created `groupId`, or -1. */
export function groupHolder(instances: RunningProcess[], groupId: string): number {
  return instances.findIndex((p) =>
    p.lines.some((line) => line.includes("group created") && line.includes(`groupId=${groupId}`))
  );
}

/** How many groups {@linkcode groupsOnEach} creates at most before it gives up. */
const MAX_CREATES = 12;

/**
 * Creates groups `${prefix}0`, `${prefix}1`, … from `client` until each instance holds at least
 * one (asserts it did within {@linkcode MAX_CREATES}); returns them by holder, in the instances'
 * order.
 */
export async function groupsOnEach(
  client: GateClient,
  instances: RunningProcess[],
  prefix: string,
): Promise<CreatedGroup[][]> {
  const byInstance: CreatedGroup[][] = instances.map(() => []);
  for (let i = 0; i < MAX_CREATES && byInstance.some((g) => g.length === 0); i++) {
    const created = await client.requestOk<CreatedGroup>(GroupCmd.CREATE, {
      groupId: `${prefix}${i}`,
    });
    await waitFor(() => groupHolder(instances, created.groupId) >= 0, {
      what: "the create log line",
    });
    byInstance[groupHolder(instances, created.groupId)].push(created);
  }
  assert.ok(byInstance.every((g) => g.length > 0), "the creates reached every instance");
  return byInstance;
}
