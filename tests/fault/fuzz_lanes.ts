/**
 * Fuzz lanes: one connection to a server that takes fuzz cases one after another and checks,
 * for each, what the server must do with it. A case is predicted to be answered (`open`: each
 * whole message gets one answer, then a sentinel request proves the connection still works),
 * cut short (`partial`: the server waits for the rest of a frame, so the lane hangs up), refused
 * (`fault`: an error answer, then the server closes), or dropped (`drop`: the server closes with
 * no answer, as a WebSocket library does for a protocol violation). Anything else — a missing
 * answer, an unexpected close, silence — fails the case with its seed and index.
 *
 * @module
 */

import { decodeFrame, FrameDecoder, frameText } from "../../shared/mod.ts";
import { RawWebSocket } from "./raw_ws.ts";

/** How a server's message counts. */
export type Tally = "answer" | "sentinel" | "other";

/** What a lane hears from its connection. */
export type LinkEvent =
  | { kind: "message"; type?: number; text: string; tally: Tally; sentinel?: number }
  | { kind: "end"; detail: string };

/** A connection a lane drives. */
export interface FuzzLink {
  /** Writes bytes as they are (a whole frame, or a WebSocket message's payload). */
  send(bytes: Uint8Array): Promise<void>;
  /** Sends the sentinel request number `n`. */
  sendSentinel(n: number): Promise<void>;
  /** Ends the connection from this side. */
  close(): void;
}

/** What the server must do with a case. */
export interface Prediction {
  /** Answers the case's whole messages must get (before any fault). */
  answers: number;
  end: "open" | "partial" | "fault" | "drop";
}

/** Builds a link; `listen` hears every event. */
export type LinkFactory = (listen: (event: LinkEvent) => void) => Promise<FuzzLink>;

/** Sentinel ids start here, far from what fuzz cases use. */
export const SENTINEL_BASE = 2 ** 52;

/** Whether a msgId is one of the sentinels' (fuzz cases use 2⁵³−1 too: it is not). */
export function isSentinel(id: unknown): id is number {
  return typeof id === "number" && id >= SENTINEL_BASE && id < SENTINEL_BASE + 2 ** 30;
}

/** One connection that takes cases in turn. */
export class Lane {
  #factory: LinkFactory;
  #link: FuzzLink | undefined;
  #generation = 0;
  #expected = 0;
  #received = 0;
  #errorsSeen = 0;
  #sentinels = new Set<number>();
  #ended: string | undefined;
  #wake: (() => void) | undefined;
  #nextSentinel = 0;
  #timeoutMs: number;
  /** Connections opened over the lane's life. */
  opened = 0;

  constructor(factory: LinkFactory, options: { timeoutMs?: number } = {}) {
    this.#factory = factory;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Runs one case: sends `bytes` and checks the server did what `prediction` says. */
  async run(bytes: Uint8Array, prediction: Prediction): Promise<void> {
    const link = await this.#current();
    const errorsBefore = this.#errorsSeen;
    await link.send(bytes).catch(() => {});
    this.#expected += prediction.answers;
    if (prediction.end === "open") {
      const n = SENTINEL_BASE + this.#nextSentinel++;
      await link.sendSentinel(n).catch(() => {});
      await this.#until(
        () => this.#sentinels.has(n) && this.#received >= this.#expected,
        () => `the answers (${this.#received} of ${this.#expected}) and the sentinel`,
        true,
      );
      this.#sentinels.delete(n);
      return;
    }
    if (prediction.end === "partial") {
      await this.#until(
        () => this.#received >= this.#expected,
        () => `the answers before the cut frame (${this.#received} of ${this.#expected})`,
        true,
      );
      this.#drop();
      return;
    }
    await this.#until(() => this.#ended !== undefined, () => "the server to close", false);
    if (prediction.end === "fault" && this.#errorsSeen === errorsBefore) {
      throw new Error(`The server closed without an error answer (${this.#ended})`);
    }
    this.#drop();
  }

  /** Hangs up. */
  close(): void {
    this.#drop();
  }

  async #current(): Promise<FuzzLink> {
    if (this.#link) return this.#link;
    const generation = ++this.#generation;
    this.#expected = 0;
    this.#received = 0;
    this.#errorsSeen = 0;
    this.#sentinels.clear();
    this.#ended = undefined;
    this.#link = await this.#factory((event) => {
      if (generation !== this.#generation) return;
      if (event.kind === "end") {
        this.#ended ??= event.detail;
      } else if (event.tally === "answer") {
        this.#received++;
        if (isErrorAnswer(event)) this.#errorsSeen++;
      } else if (event.tally === "sentinel") {
        this.#sentinels.add(event.sentinel!);
      }
      this.#wake?.();
    });
    this.opened++;
    return this.#link;
  }

  #drop(): void {
    this.#generation++;
    this.#link?.close();
    this.#link = undefined;
  }

  async #until(done: () => boolean, what: () => string, mustStayOpen: boolean): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    while (!done()) {
      if (mustStayOpen && this.#ended !== undefined) {
        throw new Error(`The server closed the connection (${this.#ended}) before ${what()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${what()} within ${this.#timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}

/** Whether an answer reports an error: an `Error` frame, `sc_msg_error`, or a non-OK state. */
export function isErrorAnswer(event: { type?: number; text: string }): boolean {
  if (event.type === 255) return true;
  try {
    const body = JSON.parse(event.text);
    return body.cmd === "sc_msg_error" || (body.is_resp === true && body.state !== 1) ||
      (typeof body.state === "number" && body.state !== 1);
  } catch {
    return false;
  }
}

/** A framed-TCP link; `classify` says how each frame the server sends counts. */
export function tcpLink(
  options: {
    port: number;
    sentinel: (n: number) => Uint8Array;
    classify: (frame: { type: number; seq: number; text: string }) => {
      tally: Tally;
      sentinel?: number;
    };
  },
): LinkFactory {
  return async (listen) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: options.port });
    const decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
    (async () => {
      const buffer = new Uint8Array(256 * 1024);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          for (const frame of decoder.push(buffer.subarray(0, n))) {
            let text = "";
            try {
              text = frameText(frame);
            } catch { /* not UTF-8: classify sees "" */ }
            const { tally, sentinel } = options.classify({
              type: frame.type,
              seq: frame.seq,
              text,
            });
            listen({ kind: "message", type: frame.type, text, tally, sentinel });
          }
        }
        listen({ kind: "end", detail: "end of stream" });
      } catch (error) {
        listen({ kind: "end", detail: (error as Error).message });
      }
    })();
    const write = async (bytes: Uint8Array) => {
      let offset = 0;
      while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
    };
    return {
      send: write,
      sendSentinel: (n) => write(options.sentinel(n)),
      close: () => {
        try {
          conn.close();
        } catch { /* already closed */ }
      },
    };
  };
}

/** How a gate answer (envelope text) counts: a response or an error is an answer. */
export function classifyGateText(text: string, type?: number): { tally: Tally; sentinel?: number } {
  if (type === 255) return { tally: "answer" };
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return { tally: "other" };
  }
  if (body.is_resp === true) {
    const id = body.msgId as number;
    return isSentinel(id) ? { tally: "sentinel", sentinel: id } : { tally: "answer" };
  }
  if (body.is_push === true && body.cmd === "sc_msg_error") return { tally: "answer" };
  return { tally: "other" };
}

/** The gate's sentinel request: a heartbeat with id `n`. */
export function gateSentinelText(n: number): string {
  return JSON.stringify({ cmd: "cs_msg_heart", is_req: true, msgId: n, data: {} });
}

/** A WebSocket link to the gate; `mode` says how fuzz bytes are sent. */
export function wsLink(
  options: { url: string; mode: "text" | "binary" | "raw" },
): LinkFactory {
  return async (listen) => {
    const ws = await RawWebSocket.open(options.url);
    (async () => {
      while (true) {
        let event;
        try {
          event = await ws.next(3_600_000);
        } catch {
          continue;
        }
        if (event.kind === "eof") {
          listen({ kind: "end", detail: "end of stream" });
          return;
        }
        if (event.kind === "close") {
          listen({ kind: "end", detail: `close ${event.code} ${event.reason}` });
          return;
        }
        if (event.kind === "text") {
          listen({ kind: "message", text: event.text, ...classifyGateText(event.text) });
        } else if (event.kind === "binary") {
          try {
            const frame = decodeFrame(event.bytes, 64 * 1024 * 1024);
            const text = frameText(frame);
            listen({
              kind: "message",
              type: frame.type,
              text,
              ...classifyGateText(text, frame.type),
            });
          } catch (error) {
            listen({
              kind: "end",
              detail: `the gate sent a bad frame: ${(error as Error).message}`,
            });
          }
        }
      }
    })();
    return {
      send: (bytes) =>
        options.mode === "raw"
          ? ws.sendRaw(bytes)
          : options.mode === "text"
          ? ws.sendFrame({ opcode: 0x1, payload: bytes })
          : ws.sendBinary(bytes),
      sendSentinel: (n) => ws.sendText(gateSentinelText(n)),
      close: () => ws.close(),
    };
  };
}
