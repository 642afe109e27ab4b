/**
 * How the login service answers when its accounts store fails: `SERVER_BUSY`
 * ({@linkcode DATABASE_UNREACHABLE}) while the database (PostgreSQL) cannot be reached, with one
 * warning per burst and one line when it is back; `SERVER_OFF` while the store's writer is
 * closing; `FAIL` with an error line for any other failed write.
 *
 * @example
 * ```ts ignore
 * const failures = new StoreFailures({ log });
 * await failures.reach(login.register(request)); // SERVER_BUSY while the database is down
 * ```
 * @module
 */

import { ServiceError } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { isStoreUnreachable } from "./account_store.ts";
import { WriterClosedError } from "./commit_batches.ts";

/** The answer (`SERVER_BUSY`) while the accounts database (PostgreSQL) cannot be reached. */
export const DATABASE_UNREACHABLE = "The accounts database cannot be reached: try again";

/** While the database stays unreachable, one warning per this many ms (with the count). */
const UNREACHABLE_LOG_EVERY_MS = 10_000;

/** Turns store errors into answers, and logs the database going away and coming back. */
export class StoreFailures {
  #log: Logger;
  /** Since when the accounts database has been unreachable, and the requests refused since. */
  #down: { since: number; failures: number; loggedAt: number } | undefined;

  /** Failures logged to `log`. */
  constructor(options: { log: Logger }) {
    this.#log = options.log;
  }

  /**
   * A command's outcome, with an unreachable database answered `SERVER_BUSY`
   * ({@linkcode DATABASE_UNREACHABLE}) instead of a generic failure.
   */
  async reach<T>(work: Promise<T>): Promise<T> {
    try {
      const value = await work;
      if (this.#down) {
        this.#log.info("accounts database reachable again", {
          refused: this.#down.failures,
          downMs: Math.round(performance.now() - this.#down.since),
        });
        this.#down = undefined;
      }
      return value;
    } catch (error) {
      throw this.#unreachable(error);
    }
  }

  /**
   * The answer to a failed write of command `cmd`: `SERVER_BUSY` when the database is
   * unreachable, `SERVER_OFF` when the store is stopping, else `FAIL` (logged as an error).
   */
  storageFailed(cmd: string, error: unknown): ServiceError {
    const unreachable = this.#unreachable(error);
    if (unreachable instanceof ServiceError) return unreachable;
    if (error instanceof WriterClosedError) {
      return new ServiceError(State.SERVER_OFF, "The login service is stopping: try again");
    }
    this.#log.error("database write failed", { cmd, error });
    return new ServiceError(
      State.FAIL,
      "The account database could not save the change: try again",
    );
  }

  /** `SERVER_BUSY` for an unreachable database (one warning per burst), else `error` itself. */
  #unreachable(error: unknown): unknown {
    if (error instanceof ServiceError || !isStoreUnreachable(error)) return error;
    const now = performance.now();
    const down = this.#down ??= { since: now, failures: 0, loggedAt: -Infinity };
    down.failures++;
    if (now - down.loggedAt >= UNREACHABLE_LOG_EVERY_MS) {
      this.#log.warn("accounts database unreachable", { error, refused: down.failures });
      down.loggedAt = now;
    }
    return new ServiceError(State.SERVER_BUSY, DATABASE_UNREACHABLE);
  }
}
