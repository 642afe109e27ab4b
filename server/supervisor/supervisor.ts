/**
 * The supervisor: starts the suite's processes, restarts one that dies, keeps the pid file,
 * forwards a signal to one child ({@linkcode Supervisor.forward}), and stops everything on
 * SIGINT/SIGTERM, or when a child keeps failing to start (its start limit):
 * {@linkcode Supervisor.done} then resolves with the exit code and the reason.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { endStaleProcesses, writePidFile } from "./pid_file.ts";
import { type ChildSpec, SupervisedChild } from "./supervised_child.ts";
import type { StartLimitOptions } from "./start_limit.ts";

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  log: Logger;
  pidFile: string;
  restartMinMs?: number;
  /** Each child's start limit (5 failed starts within 60 s). */
  startLimit?: StartLimitOptions;
}

/** How the supervisor ended: 0 after a stop signal, 1 after giving a child up (with the reason). */
export interface SupervisorEnd {
  code: number;
  reason?: string;
}

/** A set of supervised children. */
export class Supervisor {
  #options: SupervisorOptions;
  #children: SupervisedChild[] = [];
  #stopping = false;
  #stopped?: Promise<void>;
  #end = Promise.withResolvers<SupervisorEnd>();
  #ending: SupervisorEnd = { code: 0 };
  #whenEnded: Array<() => void> = [];
  /** The latest pid file write (each waits for the one before). */
  #pidWrite: Promise<void> = Promise.resolve();

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Resolves when every child is stopped, after a stop signal or after giving a child up. */
  get done(): Promise<SupervisorEnd> {
    return this.#end.promise;
  }

  /** True once stopping (a signal, or a child given up). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Ends what a stale pid file lists, then writes ours. */
  async claimPidFile(): Promise<void> {
    await endStaleProcesses(this.#options.pidFile, { log: this.#options.log });
    await this.#writePids();
  }

  /**
   * Starts a child and keeps it running. Resolves with the first line matching `ready` (or at
   * once without one), or with `undefined` when the supervisor stops first.
   */
  add(spec: ChildSpec, ready?: RegExp): Promise<RegExpMatchArray | undefined> {
    if (this.#stopping) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      if (!ready) resolve(undefined);
      else this.#whenEnded.push(() => resolve(undefined));
      const child = new SupervisedChild({
        spec,
        log: this.#options.log,
        restartMinMs: this.#options.restartMinMs,
        startLimit: this.#options.startLimit,
        ready,
        onReady: resolve,
        onGiveUp: (reason) => this.#giveUp(spec.name, reason),
        onStart: () => this.#writePids().catch(() => {}),
      });
      this.#children.push(child);
      child.start();
    });
  }

  /** The children, for status and tests. */
  get children(): readonly SupervisedChild[] {
    return this.#children;
  }

  /**
   * Forwards `signal` to the child named `name` alone (SIGHUP to the license server: it rereads
   * its license file), and logs it. Returns the pid signalled, or `undefined` when that child is
   * not running (not started yet, between restarts, or the supervisor is stopping).
   */
  forward(name: string, signal: Deno.Signal): number | undefined {
    const child = this.#children.find((c) => c.name === name);
    const pid = this.#stopping ? undefined : child?.signal(signal);
    if (pid === undefined) {
      this.#options.log.warn("signal not forwarded", {
        signal,
        child: name,
        reason: "not running",
      });
    } else {
      this.#options.log.info("signal forwarded", { signal, child: name, pid });
    }
    return pid;
  }

  /**
   * Stops every child (services first, the gate last), removes the pid file, and resolves
   * {@linkcode done}. A second call while stopping kills the children at once (SIGKILL).
   */
  stop(): Promise<void> {
    if (this.#stopped) {
      this.#options.log.warn("stopping now", { children: this.#children.length });
      for (const child of this.#children) child.kill();
      return this.#stopped;
    }
    this.#stopping = true;
    for (const wake of this.#whenEnded.splice(0)) wake();
    this.#stopped = this.#stopAll();
    return this.#stopped;
  }

  async #stopAll(): Promise<void> {
    this.#options.log.info("stopping", { children: this.#children.length });
    for (const child of this.#children) child.willStop();
    await Promise.all(this.#children.slice(1).map((child) => child.stop()));
    await this.#children[0]?.stop();
    // A write begun before the stop (a child had just started) would put the file back after
    // its removal: it ends first.
    await this.#pidWrite.catch(() => {});
    try {
      await Deno.remove(this.#options.pidFile);
    } catch { /* already gone */ }
    this.#options.log.info("stopped");
    this.#end.resolve(this.#ending);
  }

  /**
   * Stops every child and ends with exit code 1 and `reason` (the supervisor's own fault);
   * resolves when they are stopped.
   */
  fail(reason: string): Promise<void> {
    if (!this.#stopping) this.#ending = { code: 1, reason };
    return this.stop();
  }

  #giveUp(name: string, reason: string): void {
    if (this.#stopping) return;
    this.#options.log.error("giving up", { child: name, reason });
    void this.fail(reason);
  }

  #writePids(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    // One write at a time, in order; the stop waits for the last before it removes the file.
    const write = this.#pidWrite.catch(() => {}).then(() =>
      writePidFile(this.#options.pidFile, {
        self: Deno.pid,
        children: this.#children.map((child) => ({ name: child.name, pid: child.pid })),
      })
    );
    this.#pidWrite = write;
    return write;
  }
}
