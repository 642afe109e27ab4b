/**
 * A TCP proxy on loopback that a test can cut: every connection through it is closed and new
 * ones are refused until it is restored. It stands for a network cut between one process and
 * another (a gate and NATS), which killing either process would not show.
 *
 * @module
 */

/** A running proxy. */
export interface TcpProxy {
  /** The port to connect to instead of the target's. */
  port: number;
  /** Closes every connection through the proxy and refuses new ones. */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  /** Stops the proxy. */
  close(): void;
}

/** Starts a proxy from a free loopback port to `127.0.0.1:<target>`. */
export function startTcpProxy(target: number): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let cut = false;
  const drop = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
    } catch { /* either side closed */ }
    drop(from);
    drop(to);
  };
  (async () => {
    for await (const conn of listener) {
      if (cut) {
        drop(conn);
        continue;
      }
      try {
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
        open.add(conn);
        open.add(upstream);
        pipe(conn, upstream);
        pipe(upstream, conn);
      } catch {
        drop(conn);
      }
    }
  })().catch(() => {/* listener closed */});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut() {
      cut = true;
      for (const conn of [...open]) drop(conn);
    },
    restore() {
      cut = false;
    },
    close() {
      cut = true;
      for (const conn of [...open]) drop(conn);
      try {
        listener.close();
      } catch { /* closed */ }
    },
  };
}
