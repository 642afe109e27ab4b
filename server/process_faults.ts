/**
 * No silent death: what a process does with a fault nobody caught. An unhandled promise
 * rejection, or an exception thrown out of a callback (a timer, an event, a signal), is logged
 * as one `ERROR` line carrying its stack, and then the process either keeps serving (the fault
 * is contained) or exits 1 so that the supervisor restarts it. Each process's `main.ts` declares
 * its {@linkcode FaultPolicy}, and says why, per kind of fault.
 *
 * Without this, Deno prints the stack on stderr and exits 1 at the first such fault, whatever it
 * was: a rejection inside the runtime's WebSocket extension once took the gate, and every user
 * on it, down (issue 14, point 1).
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { installFaultHandlers } from "./process_faults.ts";
 * const log = createLogger("gate");
 * installFaultHandlers({ log, policy: { rejection: "continue", exception: "exit" } });
 * // 2026-11-30T10:00:00.000Z ERROR gate unhandled rejection action=continue stack="Error: …\n    at …"
 * ```
 * @module
 */

import type { Logger } from "./log.ts";

/** What a process does once it has logged a fault: keep serving, or exit 1. */
export type FaultAction = "continue" | "exit";

/** One action per kind of fault. */
export interface FaultPolicy {
  /** A promise rejected with no handler to take the rejection. */
  rejection: FaultAction;
  /** An exception thrown out of a callback (timer, event listener, signal) with nobody to catch it. */
  exception: FaultAction;
}

/** Options of {@linkcode installFaultHandlers}. */
export interface FaultHandlerOptions {
  /** Where the fault's line goes (level error). */
  log: Logger;
  /** What to do after each kind of fault. */
  policy: FaultPolicy;
  /**
   * Work to do before exiting on an `exit` fault (the supervisor stops its children); cut short
   * after `beforeExitMs`.
   */
  beforeExit?: () => Promise<void>;
  /** Longest wait for `beforeExit`, in ms; default 10,000. */
  beforeExitMs?: number;
  /**
   * Most contained faults logged per minute (default 20): a storm of them, from a client that
   * found a way to cause one, cannot flood the log. The rest are counted in one `WARN` line.
   */
  maxLinesPerMinute?: number;
}

/** The exit code after an `exit` fault: non-zero, so the supervisor restarts the process. */
export const FAULT_EXIT_CODE = 1;

const MINUTE_MS = 60_000;

/** The stack of what was thrown, or its text when it is not an `Error` (one string). */
export function faultText(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.stack ?? `${thrown.name}: ${thrown.message}`;
  try {
    return `Thrown value (not an Error): ${
      typeof thrown === "string" ? thrown : JSON.stringify(thrown)
    }`;
  } catch {
    return `Thrown value (not an Error): ${String(thrown)}`;
  }
}

/**
 * Installs the process's handlers for unhandled rejections and uncaught exceptions; returns a
 * function that removes them. Install it first in `main`, before anything that could fault.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { installFaultHandlers } from "./process_faults.ts";
 * const uninstall = installFaultHandlers({
 *   log: createLogger("echo"),
 *   policy: { rejection: "exit", exception: "exit" },
 * });
 * uninstall();
 * ```
 */
export function installFaultHandlers(options: FaultHandlerOptions): () => void {
  const { log, policy } = options;
  const maxLines = options.maxLinesPerMinute ?? 20;
  let exiting = false;
  let windowStart = 0;
  let linesInWindow = 0;
  let unlogged = 0;
  let reportTimer: ReturnType<typeof setTimeout> | undefined;

  const reportUnlogged = () => {
    reportTimer = undefined;
    if (unlogged === 0) return;
    log.warn("unhandled faults not logged", { count: unlogged, withinMs: MINUTE_MS });
    unlogged = 0;
  };

  const handle = (kind: keyof FaultPolicy, thrown: unknown) => {
    if (exiting) return; // already on the way out: one line is enough
    const action = policy[kind];
    const event = kind === "rejection" ? "unhandled rejection" : "uncaught exception";
    if (action === "continue") {
      const now = Date.now();
      if (now - windowStart >= MINUTE_MS) {
        windowStart = now;
        linesInWindow = 0;
      }
      if (++linesInWindow > maxLines) {
        unlogged++;
        if (reportTimer === undefined) {
          const timer = setTimeout(reportUnlogged, windowStart + MINUTE_MS - now);
          Deno.unrefTimer(timer);
          reportTimer = timer;
        }
        return;
      }
      log.error(event, { action, stack: faultText(thrown) });
      return;
    }
    exiting = true;
    log.error(event, { action, exitCode: FAULT_EXIT_CODE, stack: faultText(thrown) });
    void exitAfter(options).finally(() => Deno.exit(FAULT_EXIT_CODE));
  };

  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    handle("rejection", event.reason);
  };
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    handle("exception", event.error ?? event.message);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  return () => {
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
    clearTimeout(reportTimer);
  };
}

/** Runs `beforeExit`, bounded by its deadline; never rejects. */
async function exitAfter(options: FaultHandlerOptions): Promise<void> {
  if (!options.beforeExit) return;
  const afterMs = options.beforeExitMs ?? 10_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      options.log.warn("cleanup before exit cut short", { afterMs });
      resolve();
    }, afterMs);
  });
  try {
    await Promise.race([options.beforeExit().catch(() => {}), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
