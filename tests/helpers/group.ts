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

import { type RunningProcess, startProcess } from "./process.ts";

/** Options of {@linkcode startGroup}. */
export interface StartGroupOptions {
  /** Extra flags (limits). */
  flags?: string[];
  /** The gate URL; the gate's WebSocket URL by default. */
  url?: string;
  /** The instance's name; a random `group-…` by default. */
  name?: string;
  /** Where the service key is read; the gate's data dir by default. */
  dataDir?: string;
}

/** Starts a group service connected to a gate; resolves once it has registered. */
export function startGroup(
  gate: { wsUrl: string; dataDir: string },
  options: StartGroupOptions = {},
): Promise<RunningProcess> {
  return startProcess({
    task: "group",
    args: [
      "--gate",
      options.url ?? gate.wsUrl,
      "--data-dir",
      options.dataDir ?? gate.dataDir,
      "--name",
      options.name ?? `group-${crypto.randomUUID().slice(0, 8)}`,
      ...(options.flags ?? []),
    ],
    ready: /registered gate=/,
  });
}
