/**
 * Starts the group service for integration tests.
 *
 * @example
 * ```ts
 * const gate = await startGate();
 * const group = await startGroup(gate, { flags: ["--max-members", "3"] });
 * await group.stop();
 * ```
 * @module
 */

import type { RunningProcess } from "./process.ts";
import { startService, type StartServiceOptions } from "./suite.ts";

/** Options of {@linkcode startGroup}: extra flags (limits), gate URL, name, data dir. */
export type StartGroupOptions = StartServiceOptions;

/** Starts a group service connected to a gate; resolves once it has registered. */
export function startGroup(
  gate: { wsUrl: string; dataDir: string },
  options: StartGroupOptions = {},
): Promise<RunningProcess> {
  return startService("group", gate, options);
}
