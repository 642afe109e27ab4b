/**
 * Baselines that fail to start. A baseline (the raw echo server, Socket.IO, Pinus) is someone
 * else's server that the bench only compares against: when one fails to start it is retried once,
 * its output printed; when it fails again, {@linkcode BaselineStartError} tells the scenario to go
 * on with our rows, whose baseline cell then says "baseline failed to start", and the run's exit
 * code is not changed by it (main.ts). A failure of our own servers is never caught here: it
 * fails the scenario and the run.
 *
 * @module
 */

import type { BenchContext } from "./types.ts";

/** A baseline failed to start twice; its rows say so and the scenario goes on without it. */
export class BaselineStartError extends Error {
  /** The baseline's label, e.g. `Pinus connector over TCP`. */
  readonly baseline: string;

  /** `message` is the second failure's message (with the baseline's output). */
  constructor(baseline: string, message: string) {
    super(`Baseline ${baseline} failed to start twice: ${message}`);
    this.name = "BaselineStartError";
    this.baseline = baseline;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The lines of `text`, each indented, for a progress detail. */
function indented(text: string): string {
  return text.split("\n").map((line) => `    | ${line}`).join("\n");
}

/**
 * Starts a baseline with `start`; on failure prints the error (with the output the baseline
 * printed) and tries once more; on a second failure reports it with `context.baselineFailed` and
 * throws {@linkcode BaselineStartError}.
 */
export async function startBaseline<T>(
  context: BenchContext,
  options: { label: string; start: () => Promise<T> },
): Promise<T> {
  try {
    return await options.start();
  } catch (first) {
    context.detail(
      `WARNING: baseline ${options.label} failed to start; trying once more. Its output:\n` +
        indented(messageOf(first)),
    );
  }
  try {
    return await options.start();
  } catch (second) {
    const message = messageOf(second);
    context.baselineFailed(options.label, message);
    throw new BaselineStartError(options.label, message);
  }
}
