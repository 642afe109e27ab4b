/**
 * The supervisor: starts the suite's processes, restarts one that dies, keeps the pid file, and
 * stops everything on SIGINT/SIGTERM.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { endStaleProcesses, writePidFile } from "./pid_file.ts";
import { type ChildSpec, SupervisedChild } from "./supervised_child.ts";

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  log: Logger;
  pidFile: string;
  restartMinMs?: number;
}

/** A set of supervised children. */
export class Supervisor {
  #options: SupervisorOptions;
  #children: SupervisedChild[] = [];
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Ends what a stale pid file lists, then writes ours. */
  async claimPidFile(): Promise<void> {
    await endStaleProcesses(this.#options.pidFile, { log: this.#options.log });
    await this.#writePids();
  }

  /**
   * Starts a child and keeps it running. Resolves with the first line matching `ready` (or at
   * once without one).
   */
  add(spec: ChildSpec, ready?: RegExp): Promise<RegExpMatchArray | undefined> {
    return new Promise((resolve) => {
      let resolved = !ready;
      if (!ready) resolve(undefined);
      const child = new SupervisedChild({
        spec,
        log: this.#options.log,
        restartMinMs: this.#options.restartMinMs,
        onStart: () => this.#writePids().catch(() => {}),
        onLine: (line) => {
          if (resolved || !ready) return;
          const match = line.match(ready);
          if (match) {
            resolved = true;
            resolve(match);
          }
        },
      });
      this.#children.push(child);
      child.start();
    });
  }

  /** The children, for status and tests. */
  get children(): readonly SupervisedChild[] {
    return this.#children;
  }

  /** Stops every child (services first, the gate last) and removes the pid file. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#options.log.info("stopping", { children: this.#children.length });
    await Promise.all(this.#children.slice(1).map((child) => child.stop()));
    await this.#children[0]?.stop();
    try {
      await Deno.remove(this.#options.pidFile);
    } catch { /* already gone */ }
    this.#options.log.info("stopped");
  }

  #writePids(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return writePidFile(this.#options.pidFile, {
      self: Deno.pid,
      children: this.#children.map((child) => ({ name: child.name, pid: child.pid })),
    });
  }
}
