/**
 * A WebSocket client written on a bare TCP socket, for tests that must send what no WebSocket
 * library would (invalid UTF-8 in a text message, bad opcodes, lengths near 2⁶⁴, unmasked
 * frames) or behave as no library would (stop reading altogether, to be a slow reader).
 *
 * @example
 * ```ts
 * const ws = await RawWebSocket.open("ws://127.0.0.1:8080/ws");
 * await ws.sendText('{"cmd":"cs_msg_heart","is_req":true,"msgId":1}');
 * const event = await ws.next(); // { kind: "text", text: "…" }
 * ws.close();
 * ```
 * @module
 */

/** What the server sent, or the end of the connection. */
export type WsEvent =
  | { kind: "text"; text: string }
  | { kind: "binary"; bytes: Uint8Array }
  | { kind: "close"; code?: number; reason: string }
  | { kind: "ping" | "pong"; bytes: Uint8Array }
  | { kind: "eof" };

/** WebSocket opcodes. */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** One frame to write, every field of its header under the caller's control. */
export interface RawFrame {
  opcode: number;
  payload?: Uint8Array;
  /** Default true. */
  fin?: boolean;
  /** The three reserved bits, 0–7. Default 0. */
  rsv?: number;
  /** Mask the payload, as a client must. Default true. */
  mask?: boolean;
  /** The length written in the header, whatever the payload's real length. */
  declaredLength?: bigint;
}

const encoder = new TextEncoder();

/** Encodes one client frame. */
export function encodeWsFrame(frame: RawFrame): Uint8Array {
  const payload = frame.payload ?? new Uint8Array();
  const length = frame.declaredLength ?? BigInt(payload.length);
  const mask = frame.mask ?? true;
  const head: number[] = [
    ((frame.fin ?? true) ? 0x80 : 0) | ((frame.rsv ?? 0) << 4) |
    (frame.opcode & 0xf),
  ];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) {
    head.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  } else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  const key = mask ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array();
  const out = new Uint8Array(head.length + key.length + payload.length);
  out.set(head, 0);
  out.set(key, head.length);
  const body = out.subarray(head.length + key.length);
  for (let i = 0; i < payload.length; i++) body[i] = mask ? payload[i] ^ key[i & 3] : payload[i];
  return out;
}

/** A WebSocket connection over a bare TCP socket. */
export class RawWebSocket {
  #conn: Deno.TcpConn;
  #buffer: Uint8Array = new Uint8Array(0);
  #events: WsEvent[] = [];
  #wake: (() => void) | undefined;
  #reading: Promise<void> | undefined;
  #paused: boolean;
  #fragments: { opcode: number; parts: Uint8Array[] } | undefined;
  #ended = false;
  /** Bytes received so far. */
  received = 0;

  private constructor(conn: Deno.TcpConn, rest: Uint8Array, paused: boolean) {
    this.#conn = conn;
    this.#buffer = rest;
    this.#paused = paused;
    this.#parse();
    if (!paused) this.#reading = this.#read();
  }

  /**
   * Opens a WebSocket to `url` (ws:// only). With `paused`, nothing is read after the handshake
   * until {@linkcode resume}: the server's writes pile up in the socket buffers.
   */
  static async open(
    url: string,
    options: { origin?: string; paused?: boolean } = {},
  ): Promise<RawWebSocket> {
    const parsed = new URL(url);
    const conn = await Deno.connect({ hostname: parsed.hostname, port: Number(parsed.port) });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const request = [
      `GET ${parsed.pathname}${parsed.search} HTTP/1.1`,
      `Host: ${parsed.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...(options.origin ? [`Origin: ${options.origin}`] : []),
      "",
      "",
    ].join("\r\n");
    await writeAll(conn, encoder.encode(request));
    let head: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(chunk);
      if (n === null) {
        conn.close();
        throw new Error(`The server closed ${url} during the handshake`);
      }
      head = concat(head, chunk.subarray(0, n));
      const end = indexOfCrlfCrlf(head);
      if (end >= 0) {
        const text = new TextDecoder().decode(head.subarray(0, end));
        if (!/^HTTP\/1\.1 101/.test(text)) {
          conn.close();
          throw new Error(`The WebSocket upgrade was refused: ${text.split("\r\n")[0]}`);
        }
        return new RawWebSocket(conn, head.slice(end + 4), options.paused ?? false);
      }
    }
  }

  /** Writes bytes as they are. Rejects when the connection is gone. */
  sendRaw(bytes: Uint8Array): Promise<void> {
    return writeAll(this.#conn, bytes);
  }

  /** Writes one frame. */
  sendFrame(frame: RawFrame): Promise<void> {
    return this.sendRaw(encodeWsFrame(frame));
  }

  /** A text message. */
  sendText(text: string): Promise<void> {
    return this.sendFrame({ opcode: Opcode.TEXT, payload: encoder.encode(text) });
  }

  /** A binary message. */
  sendBinary(bytes: Uint8Array): Promise<void> {
    return this.sendFrame({ opcode: Opcode.BINARY, payload: bytes });
  }

  /** Stops reading (after the read under way): the server's writes pile up in the buffers. */
  pause(): void {
    this.#paused = true;
  }

  /** Starts reading again after {@linkcode pause} or {@linkcode open} with `paused`. */
  async resume(): Promise<void> {
    if (!this.#paused) return;
    this.#paused = false;
    await this.#reading;
    if (!this.#paused) this.#reading = this.#read();
  }

  /** Whether the server's side has ended (close frame or end of stream seen). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The next event; rejects after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<WsEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.#events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Nothing received within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.#events.shift()!;
  }

  /** Events received and not taken yet. */
  get pending(): number {
    return this.#events.length;
  }

  /** Drops the TCP connection without a closing handshake. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Closes and waits for the reader to stop. */
  async closed(): Promise<void> {
    this.close();
    await this.#reading;
  }

  async #read(): Promise<void> {
    const chunk = new Uint8Array(256 * 1024);
    try {
      while (!this.#paused) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.received += n;
        this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
        this.#parse();
      }
    } catch { /* closed */ }
    if (!this.#paused) {
      this.#ended = true;
      this.#push({ kind: "eof" });
    }
  }

  #parse(): void {
    while (true) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let length = b[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = (b[2] << 8) | b[3];
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
        offset = 10;
      }
      const keyBytes = masked ? 4 : 0;
      if (b.length < offset + keyBytes + length) return;
      const payload = b.slice(offset + keyBytes, offset + keyBytes + length);
      if (masked) {
        const key = b.subarray(offset, offset + 4);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      this.#buffer = b.slice(offset + keyBytes + length);
      this.#frame(fin, opcode, payload);
    }
  }

  #frame(fin: boolean, opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.CLOSE) {
      const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : undefined;
      const reason = new TextDecoder().decode(payload.subarray(2));
      this.#ended = true;
      this.#push({ kind: "close", code, reason });
      return;
    }
    if (opcode === Opcode.PING) {
      this.sendFrame({ opcode: Opcode.PONG, payload }).catch(() => {});
      this.#push({ kind: "ping", bytes: payload });
      return;
    }
    if (opcode === Opcode.PONG) {
      this.#push({ kind: "pong", bytes: payload });
      return;
    }
    if (opcode !== Opcode.CONTINUATION) this.#fragments = { opcode, parts: [] };
    this.#fragments?.parts.push(payload);
    if (!fin || !this.#fragments) return;
    const whole = this.#fragments.parts.reduce((a, p) => concat(a, p), new Uint8Array());
    const kind = this.#fragments.opcode;
    this.#fragments = undefined;
    if (kind === Opcode.TEXT) this.#push({ kind: "text", text: new TextDecoder().decode(whole) });
    else this.#push({ kind: "binary", bytes: whole });
  }

  #push(event: WsEvent): void {
    this.#events.push(event);
    this.#wake?.();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function indexOfCrlfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}
