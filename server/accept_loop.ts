/**
 * The one accept loop of every listening port (the gate's HTTP and framed-TCP ports, the license
 * server's port): it survives `EMFILE`, `ENFILE` and any other accept error by backing off
 * (10 ms, doubling to 1 s), logs once per burst of errors (not once per error) and once when
 * accepting works again, and ends only when the listener is closed.
 *
 * @example
 * ```ts ignore
 * import { acceptLoop } from "./accept_loop.ts";
 * const listener = Deno.listen({ port: 0 });
 * const done = acceptLoop({ listener, name: "tcp", log, onConn: (conn) => serve(conn) });
 * listener.close();
 * await done;
 * ```
 * @module
 */

import type { Logger } from "./log.ts";

/** The first pause after an accept error. */
export const ACCEPT_BACKOFF_MIN_MS = 10;
/** The longest pause between accept attempts while they fail. */
export const ACCEPT_BACKOFF_MAX_MS = 1000;

/** Options of {@linkcode acceptLoop}. */
export interface AcceptLoopOptions<C extends Deno.Conn> {
  listener: Deno.Listener<C>;
  /** Which port, for the log (`http`, `tcp`, `license`). */
  name: string;
  log: Logger;
  /** Takes each accepted connection; must not throw (a throw is logged and the conn closed). */
  onConn(conn: C): void;
  /** The first pause after an error, {@linkcode ACCEPT_BACKOFF_MIN_MS} by default. */
  minBackoffMs?: number;
  /** The longest pause, {@linkcode ACCEPT_BACKOFF_MAX_MS} by default. */
  maxBackoffMs?: number;
}

/** Whether an accept error means the listener was closed (the loop's normal end). */
function isClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}

/**
 * Accepts connections until the listener is closed; resolves then. Never rejects: an accept
 * error pauses the loop (doubling up to the maximum) and it tries again.
 */
export async function acceptLoop<C extends Deno.Conn>(
  options: AcceptLoopOptions<C>,
): Promise<void> {
  const { listener, name, log } = options;
  const min = options.minBackoffMs ?? ACCEPT_BACKOFF_MIN_MS;
  const max = options.maxBackoffMs ?? ACCEPT_BACKOFF_MAX_MS;
  let delay = min;
  let failures = 0;
  while (true) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (isClosed(error)) return;
      // Kept serving: an accept error (EMFILE, ENFILE, ECONNABORTED…) concerns one attempt, and
      // what is already connected goes on; the pending connections wait in the backlog.
      if (failures === 0) {
        log.error("accept failed, backing off", { port: name, error, retryMs: delay });
      }
      failures++;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, max);
      continue;
    }
    if (failures > 0) {
      log.info("accepting again", { port: name, failedAttempts: failures });
      failures = 0;
      delay = min;
    }
    try {
      options.onConn(conn);
    } catch (error) {
      log.error("connection setup failed", { port: name, error });
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }
}
