/**
 * Where a process's log lines go: debug and info lines to stdout, gathered while the current
 * task of the event loop runs and written together in one write once it ends (a microtask);
 * warnings and errors to stderr at once, after whatever stdout lines were waiting, so that the
 * two streams keep their order and an error is out before anything else can happen.
 *
 * Why: a license server granting and releasing thousands of seats a second logs two lines per
 * login cycle, and one write per line was 15% of its time (bench/FINDINGS.md, finding 20). Lines
 * still waiting when the process exits (`Deno.exit`, the `unload` event) or an uncaught error or
 * rejection is about to end it (the `error` and `unhandledrejection` events) are written first.
 *
 * @example
 * ```ts
 * import { LogOutput } from "./log_output.ts";
 * const output = new LogOutput();
 * output.line("2026-11-30T12:00:00.000Z INFO gate listening", "info");
 * output.line("2026-11-30T12:00:00.001Z INFO gate ready", "info"); // both in one write
 * ```
 * @module
 */

/** Which stream a line belongs to. */
export type LogStream = "info" | "error";

/** Gathers stdout lines per event-loop task; see the module text. */
export class LogOutput {
  #waiting: string[] = [];
  #scheduled = false;
  #hooked = false;
  #flush = () => this.flush();

  /** Queues an stdout line (`info`), or writes a stderr line (`error`) after what is queued. */
  line(text: string, stream: LogStream): void {
    if (stream === "error") {
      this.flush();
      console.error(text);
      return;
    }
    this.#waiting.push(text);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
    if (!this.#hooked) {
      this.#hooked = true;
      // An exit, or an uncaught error about to end the process, writes what is waiting first.
      for (const event of ["unload", "error", "unhandledrejection"]) {
        globalThis.addEventListener?.(event, this.#flush);
      }
    }
  }

  /** Writes the queued stdout lines now, in one write. */
  flush(): void {
    this.#scheduled = false;
    if (this.#waiting.length === 0) return;
    const text = this.#waiting.length === 1 ? this.#waiting[0] : this.#waiting.join("\n");
    this.#waiting = [];
    console.log(text);
  }
}

/** The process's one output, shared by every logger (server/log.ts). */
export const logOutput: LogOutput = new LogOutput();
