/**
 * How late the license server reads a socket whose data has already arrived, measured directly:
 * the server keeps one loopback connection to itself, writes a byte on one end each sweep and
 * times how long its other end takes to read it. A busy Deno process can leave a socket's new
 * data unread for seconds while its timers run on time (bench/FINDINGS.md, "The license server
 * keeps its seats under churn"); while the probe's byte waits, every client's heartbeat may be
 * waiting the same way, so that wait is not counted as the clients' silence.
 *
 * @example
 * ```ts ignore
 * import { ReadProbe } from "./read_probe.ts";
 * const probe = await ReadProbe.open();
 * probe.ping();
 * console.log(probe.lateMs()); // how long the byte has waited, or the last wait
 * probe.close();
 * ```
 * @module
 */

const BYTE = new Uint8Array([1]);

/** A loopback connection of the server to itself, timing its own reads. */
export class ReadProbe {
  #writer: Deno.TcpConn;
  #reader: Deno.TcpConn;
  #sentAt?: number;
  #lastMs = 0;
  #closed = false;

  private constructor(writer: Deno.TcpConn, reader: Deno.TcpConn) {
    this.#writer = writer;
    this.#reader = reader;
    void this.#read();
  }

  /** Opens the loopback pair (two sockets and, briefly, a listener on a free port). */
  static async open(): Promise<ReadProbe> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
    try {
      const [writer, reader] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
        listener.accept(),
      ]);
      writer.setNoDelay(true);
      return new ReadProbe(writer, reader);
    } finally {
      listener.close();
    }
  }

  /** Sends a byte to be timed, unless one is still on its way. */
  ping(): void {
    if (this.#closed || this.#sentAt !== undefined) return;
    this.#sentAt = Date.now();
    this.#writer.write(BYTE).catch(() => this.close());
  }

  /** How long the byte in flight has waited so far, or else how long the last one took, ms. */
  lateMs(now: number = Date.now()): number {
    return this.#sentAt === undefined ? this.#lastMs : Math.max(this.#lastMs, now - this.#sentAt);
  }

  /** Closes both ends. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [this.#writer, this.#reader]) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(64);
    try {
      while (!this.#closed) {
        const n = await this.#reader.read(buffer);
        if (n === null) break;
        if (this.#sentAt !== undefined) this.#lastMs = Date.now() - this.#sentAt;
        this.#sentAt = undefined;
      }
    } catch { /* closed */ }
    this.close();
  }
}
