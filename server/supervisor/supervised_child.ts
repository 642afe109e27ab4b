/**
 * One child process kept alive by the supervisor: started, watched, restarted with exponential
 * backoff when it exits (reset after it has run a while), and stopped with SIGTERM, then SIGKILL.
 * A run that ends before the child was up is a failed start: logged as one line saying why
 * (start_failure.ts), and counted against the start limit (start_limit.ts), past which the child
 * is given up.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { type ChildLine, explainStartFailure, type ListenAddress } from "./start_failure.ts";
import { StartLimit, type StartLimitOptions } from "./start_limit.ts";

export type { ListenAddress };

/** What to run. */
export interface ChildSpec {
  /** Name in logs. */
  name: string;
  /** The executable. */
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** The addresses it listens on, so that a port in use can be named. */
  listens?: ListenAddress[];
}

/** Options of {@linkcode SupervisedChild}. */
export interface SupervisedChildOptions {
  spec: ChildSpec;
  log: Logger;
  /** Each line the child writes (already forwarded to stdout when `forward` is true). */
  onLine?: (line: string) => void;
  /** Called after every start with the new pid. */
  onStart?: (pid: number) => void;
  /** Shortest and longest restart delay; defaults 500 ms and 30 s. */
  restartMinMs?: number;
  restartMaxMs?: number;
  /** A run this long resets the backoff; default 10 s. */
  resetAfterMs?: number;
  /** Copy the child's output to this process's stdout; default true. */
  forward?: boolean;
  /**
   * A line that says the child is up. A run that ends before it, or within `resetAfterMs`, is a
   * failed start.
   */
  ready?: RegExp;
  /** Called with the ready line's match, at each start. */
  onReady?: (match: RegExpMatchArray) => void;
  /** Failed starts within a window past which the child is given up (5 within 60 s). */
  startLimit?: StartLimitOptions;
  /** Called once when the child is given up, with the reason; it is not restarted again. */
  onGiveUp?: (reason: string) => void;
}

/** Lines of a run kept to explain a failed start. */
const KEPT_LINES = 20;

/** A child process under supervision. */
export class SupervisedChild {
  #options: SupervisedChildOptions;
  #child?: Deno.ChildProcess;
  #stopping = false;
  #failures = 0;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #exited?: Promise<void>;
  #restarts = 0;
  #startLimit: StartLimit;
  #lines: ChildLine[] = [];
  #up = false;

  constructor(options: SupervisedChildOptions) {
    this.#options = options;
    this.#startLimit = new StartLimit(options.startLimit);
  }

  /** The child's name. */
  get name(): string {
    return this.#options.spec.name;
  }

  /** The running child's pid, if any. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How many times it was restarted. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts the child (and keeps it running until {@linkcode stop}). */
  start(): void {
    const { spec, log } = this.#options;
    const startedAt = Date.now();
    this.#lines = [];
    this.#up = false;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.command, {
        args: spec.args,
        cwd: spec.cwd,
        env: spec.env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      this.#failedStart({
        ranMs: 0,
        reason: `${spec.name} cannot be started: ${(error as Error).message}`,
      });
      return;
    }
    this.#child = child;
    log.info("child started", { child: spec.name, pid: child.pid });
    this.#options.onStart?.(child.pid);
    const pumps = Promise.all([
      this.#pump(child.stdout, false),
      this.#pump(child.stderr, true),
    ]);
    this.#exited = child.status.then(async (status) => {
      await pumps;
      if (this.#child === child) this.#child = undefined;
      const ranMs = Date.now() - startedAt;
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      if (this.#stopping) {
        log.info("child exited", { child: spec.name, pid: child.pid, how });
        return;
      }
      const resetAfterMs = this.#options.resetAfterMs ?? 10_000;
      const wasUp = this.#options.ready ? this.#up : ranMs >= resetAfterMs;
      if (wasUp && ranMs >= resetAfterMs) {
        log.warn("child exited", { child: spec.name, pid: child.pid, how, ranMs });
        this.#scheduleRestart(ranMs);
        return;
      }
      const reason = await explainStartFailure({
        name: spec.name,
        how,
        lines: this.#lines,
        listens: spec.listens,
      });
      if (this.#stopping) return;
      this.#failedStart({ ranMs, reason, how, pid: child.pid });
    });
  }

  /**
   * Sends `signal` to the running child and returns its pid, or `undefined` when none runs (it
   * is between restarts, or stopping). The child is not stopped or restarted for it.
   */
  signal(signal: Deno.Signal): number | undefined {
    const child = this.#child;
    if (!child || this.#stopping) return undefined;
    try {
      child.kill(signal);
    } catch {
      return undefined; // it exited meanwhile; its exit is handled as any other
    }
    return child.pid;
  }

  /** Ends the running child at once with SIGKILL (a second stop signal; no grace). */
  kill(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    try {
      this.#child?.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  /** Logs a failed start with its reason, then restarts the child or gives it up. */
  #failedStart(failure: { ranMs: number; reason: string; how?: string; pid?: number }): void {
    const { log, spec } = this.#options;
    const giveUp = this.#startLimit.record();
    log.error("child start failed", {
      child: spec.name,
      pid: failure.pid,
      how: failure.how,
      ranMs: failure.ranMs,
      reason: failure.reason,
    });
    if (!giveUp) {
      this.#scheduleRestart(failure.ranMs);
      return;
    }
    const { burst, intervalMs } = this.#startLimit.options;
    this.#stopping = true;
    this.#options.onGiveUp?.(
      `${failure.reason}; ${burst} failed start${burst === 1 ? "" : "s"} within ${
        intervalMs / 1000
      } s`,
    );
  }

  /**
   * Marks the child as stopping before its turn to be stopped comes: an exit from now on (a
   * Ctrl-C reaches every process of the terminal's group) is neither restarted nor counted as a
   * failed start.
   */
  willStop(): void {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
  }

  /** Stops the child: SIGTERM, and SIGKILL after `graceMs`. Resolves when it has exited. */
  async stop(graceMs = 8000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      this.#options.log.warn("child did not stop; killing", { child: this.name, pid: child.pid });
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  #scheduleRestart(ranMs: number): void {
    const min = this.#options.restartMinMs ?? 500;
    const max = this.#options.restartMaxMs ?? 30_000;
    if (ranMs >= (this.#options.resetAfterMs ?? 10_000)) this.#failures = 0;
    const delay = Math.min(max, min * 2 ** this.#failures);
    this.#failures = Math.min(this.#failures + 1, 20);
    this.#options.log.info("child restarting", { child: this.name, inMs: delay });
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.#restarts++;
      this.start();
    }, delay);
  }

  async #pump(stream: ReadableStream<Uint8Array>, stderr: boolean): Promise<void> {
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        rest += text;
        const lines = rest.split("\n");
        rest = lines.pop()!;
        for (const line of lines) this.#line(line, stderr);
      }
    } catch { /* the pipe closed */ }
    if (rest) this.#line(rest, stderr);
  }

  #line(text: string, stderr: boolean): void {
    if (this.#options.forward ?? true) console.log(text);
    this.#lines.push({ text, stderr });
    if (this.#lines.length > KEPT_LINES) this.#lines.shift();
    const ready = this.#options.ready;
    if (ready && !this.#up) {
      const match = text.match(ready);
      if (match) {
        this.#up = true;
        this.#options.onReady?.(match);
      }
    }
    this.#options.onLine?.(text);
  }
}
