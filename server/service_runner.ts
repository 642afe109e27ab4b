/**
 * What every service's `main.ts` does once its handlers are installed: log the gate connection's
 * events, register, and run until SIGINT or SIGTERM (or until the gate refuses the registration).
 *
 * @example
 * ```ts
 * const stopping = stopSignal();
 * // … install handlers on `service` …
 * const { code, signal } = await serveUntilStopped({ service, log, gate, name, stopping });
 * log.info("stopping", { signal });
 * service.stop();
 * ```
 * @module
 */

import type { ServiceClient } from "../client/mod.ts";
import { printFlagError } from "./flag_error.ts";
import type { Logger } from "./log.ts";

/** Resolves at the first SIGINT or SIGTERM. */
export function stopSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve("SIGINT"));
    Deno.addSignalListener("SIGTERM", () => resolve("SIGTERM"));
  });
}

/** Options of {@linkcode serveUntilStopped}. */
export interface ServeOptions {
  service: ServiceClient;
  log: Logger;
  /** The gate URLs, for the log. */
  gate: string[];
  name: string;
  /** From {@linkcode stopSignal}, taken early so that no signal is missed during start-up. */
  stopping: Promise<Deno.Signal>;
}

/**
 * Registers the service (retrying while the gate is unreachable) and waits for a stop signal.
 * Resolves with exit code 1 when the gate refuses the registration (a wrong key), else 0 and the
 * signal that stopped it. Logs `registered gate=…` once and `registered again` after reconnects.
 */
export async function serveUntilStopped(
  options: ServeOptions,
): Promise<{ code: number; signal?: Deno.Signal }> {
  const { service, log } = options;
  service.onState((state, detail) => {
    if (state === "disconnected") log.warn("gate connection lost", { detail });
  });
  let registrations = 0;
  service.onRegistered(() => {
    registrations++;
    log.info(registrations === 1 ? "registered" : "registered again", {
      gate: options.gate.join(","),
      name: options.name,
    });
  });
  const refused = service.start().then(
    () => new Promise<never>(() => {}),
    (error: Error) => {
      log.error("registration refused", { error });
      return { code: 1 };
    },
  );
  const stopped = options.stopping.then((signal) => ({ code: 0, signal }));
  return await Promise.race([refused, stopped]);
}

/**
 * Parses a process's flags with `parse`, which returns `undefined` for `--help`. Resolves to the
 * flags, or to the exit code: 0 once the help is printed for `--help`, 2 for flags that cannot be
 * used (their error in one line and a hint to run with `--help`, on stderr).
 *
 * @example
 * ```ts
 * const parsed = flagsOrExitCode(() => parseLoginArgs(args), HELP);
 * if ("code" in parsed) return parsed.code;
 * ```
 */
export function flagsOrExitCode<T>(
  parse: () => T | undefined,
  help: string,
): { flags: T } | { code: number } {
  let flags: T | undefined;
  try {
    flags = parse();
  } catch (error) {
    printFlagError((error as Error).message);
    return { code: 2 };
  }
  if (flags === undefined) {
    console.log(help);
    return { code: 0 };
  }
  return { flags };
}
