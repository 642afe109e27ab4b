/**
 * One child process kept alive by the supervisor: started, watched, restarted with exponential
 * backoff when it exits (reset after it has run a while), and stopped with SIGTERM, then SIGKILL.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** What to run. */
export interface ChildSpec {
  /** Name in logs. */
  name: string;
  /** The executable. */
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
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
}

/** A child process under supervision. */
export class SupervisedChild {
  #options: SupervisedChildOptions;
  #child?: Deno.ChildProcess;
  #stopping = false;
  #failures = 0;
  #restartTimer?: ReturnType<typeof setTimeout>;
  #exited?: Promise<void>;
  #restarts = 0;

  constructor(options: SupervisedChildOptions) {
    this.#options = options;
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
      log.error("start failed", { child: spec.name, error });
      this.#scheduleRestart(0);
      return;
    }
    this.#child = child;
    log.info("child started", { child: spec.name, pid: child.pid });
    this.#options.onStart?.(child.pid);
    const pumps = Promise.all([this.#pump(child.stdout), this.#pump(child.stderr)]);
    this.#exited = child.status.then(async (status) => {
      await pumps;
      if (this.#child === child) this.#child = undefined;
      const ranMs = Date.now() - startedAt;
      const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
      if (this.#stopping) {
        log.info("child exited", { child: spec.name, pid: child.pid, how });
        return;
      }
      log.warn("child exited", { child: spec.name, pid: child.pid, how, ranMs });
      this.#scheduleRestart(ranMs);
    });
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

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const forward = this.#options.forward ?? true;
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        rest += text;
        const lines = rest.split("\n");
        rest = lines.pop()!;
        for (const line of lines) {
          if (forward) console.log(line);
          this.#options.onLine?.(line);
        }
      }
    } catch { /* the pipe closed */ }
    if (rest) {
      if (forward) console.log(rest);
      this.#options.onLine?.(rest);
    }
  }
}
