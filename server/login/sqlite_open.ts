/**
 * Opening a SQLite file that another instance on the same machine may be creating or migrating at
 * that moment. SQLite's `busy_timeout` covers most waits, but some steps of an open (the switch to
 * WAL, a read upgraded to a write, WAL recovery) answer "database is locked" at once instead of
 * waiting; two login instances started together on one `--data-dir` hit it. So the whole open is
 * tried again, with a growing pause, until it works or the time is up.
 *
 * @example
 * ```ts ignore
 * const store = await openWhileLocked(() => openOnce(path));
 * ```
 * @module
 */

/** How long an open is tried again while the file is locked, ms. */
export const OPEN_RETRY_MS = 5000;

/** Whether an error is SQLite's "database is locked" (SQLITE_BUSY). */
export function isLockedError(error: unknown): boolean {
  return /database is locked|SQLITE_BUSY/i.test((error as Error)?.message ?? "");
}

/**
 * Runs `open` until it does not fail with "database is locked", pausing 5 ms, then twice as long
 * each time up to 200 ms, for at most `timeoutMs` ({@linkcode OPEN_RETRY_MS}); any other error, or
 * the lock past the time, is thrown. `open` must release what it opened when it throws.
 *
 * @example
 * ```ts ignore
 * const db = await openWhileLocked(() => openAndMigrate(path), { timeoutMs: 2000 });
 * ```
 */
export async function openWhileLocked<T>(
  open: () => T | Promise<T>,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? OPEN_RETRY_MS);
  for (let wait = 5;; wait = Math.min(wait * 2, 200)) {
    try {
      return await open();
    } catch (error) {
      if (!isLockedError(error) || Date.now() + wait > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
