/**
 * Sessions over an in-memory transport, for unit tests of the gate's routing core: the texts a
 * connection was sent are kept in order, and `unsent` stands for bytes its socket has not taken.
 *
 * @module
 */

import type { Logger } from "../../server/log.ts";
import type { Connection } from "../../server/gate/connection.ts";
import { LinkDispatcher } from "../../server/gate/link_dispatcher.ts";
import { Connections } from "../../server/gate/connections.ts";
import type { LocalSessions } from "../../server/gate/local_router.ts";
import { GateMetrics } from "../../server/gate/metrics.ts";
import { Session } from "../../server/gate/session.ts";
import { TokenBucket } from "../../server/gate/token_bucket.ts";

/** A transport that keeps what it was sent. */
export class MemoryConnection implements Connection {
  readonly transport = "ws" as const;
  readonly remote = "127.0.0.1:1";
  readonly id: number;
  /** The texts sent, parsed. */
  readonly sent: Record<string, unknown>[] = [];
  /** Bytes the socket "has not taken": added to by every send when `stalled`. */
  unsent = 0;
  stalled = false;
  closedWith?: string;

  constructor(id: number) {
    this.id = id;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  get unsentBytes(): number {
    return this.unsent;
  }

  sendText(text: string): void {
    this.sent.push(JSON.parse(text));
    if (this.stalled) this.unsent += text.length;
  }

  sendUtf8(bytes: Uint8Array): void {
    this.sendText(new TextDecoder().decode(bytes));
  }

  sendError(msg: string): void {
    this.sent.push({ error: msg });
  }

  close(reason: string): void {
    this.closedWith ??= reason;
  }
}

/** A logger that keeps its lines. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (event: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${event} ${JSON.stringify(fields ?? {})}`);
  };
  return {
    lines,
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
  };
}

/** One gate's routing state: a dispatcher, a session table, and a way to open sessions. */
export interface TestGate extends LocalSessions {
  log: Logger & { lines: string[] };
  /** Opens a session with the next clientId (from `base`). */
  open(): Session & { conn: MemoryConnection };
  /** Opens a session registered as a service link for `apis` (and `events`). */
  link(apis: string[], events?: string[]): Session & { conn: MemoryConnection };
}

/** A gate's routing state without sockets. */
export function testGate(
  options: {
    base?: number;
    requestTimeoutMs?: number;
    maxInflight?: number;
    maxUnsentBytes?: number;
    maxMessageBytes?: number;
  } = {},
): TestGate {
  const metrics = new GateMetrics();
  const log = memoryLogger();
  let last = options.base ?? 0;
  const connections = new Connections({ nextId: () => ++last });
  const dispatcher = new LinkDispatcher({
    metrics,
    log,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    maxInflight: options.maxInflight ?? 100,
    maxUnsentBytes: options.maxUnsentBytes ?? 1 << 20,
    maxMessageBytes: options.maxMessageBytes,
  });
  const open = () => {
    const conn = new MemoryConnection(connections.nextId());
    const session = new Session({
      conn,
      bucket: new TokenBucket({ ratePerSecond: 100, burst: 100 }),
      reply: dispatcher.replyTo(conn),
    }) as Session & { conn: MemoryConnection };
    connections.add(session);
    return session;
  };
  return {
    metrics,
    log,
    connections,
    dispatcher,
    open,
    link(apis, events = []) {
      const session = open();
      session.service = { type: "test", name: `link-${session.id}`, apis, events: new Set(events) };
      return session;
    },
  };
}
