/**
 * Fixtures of the license tests: running the real `license:*` tasks, a data directory with a
 * key pair and a signed license made by them, the real server process, and a raw framed-TCP
 * connection that can send anything, including what a well-behaved client never would.
 *
 * @module
 */

import { encodeFrame, type Frame, FrameDecoder } from "../../shared/frame.ts";
import { type MessageTypeName, MessageTypes } from "../../shared/message_types.ts";
import { ROOT_DIR, type RunningProcess, startProcess, taskArgs } from "../helpers/process.ts";
import { queryStatus } from "../../server/license/status.ts";
import type { StatusData } from "../../server/license/messages.ts";

/** The heartbeat interval the tests run the server with. */
export const HEARTBEAT_MS = 200;

/** How long a release may take after the event: 3 intervals plus a generous margin. */
export const RELEASE_WITHIN_MS = 3 * HEARTBEAT_MS + 1500;

/** The outcome of a finished task. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a deno.json task to its end, with its own permissions. */
export async function runTask(task: string, args: string[]): Promise<TaskResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs(task), ...args],
    cwd: ROOT_DIR,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs a task and throws with its output when it fails. */
export async function runTaskOk(task: string, args: string[]): Promise<TaskResult> {
  const result = await runTask(task, args);
  if (result.code !== 0) {
    throw new Error(`${task} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** What {@linkcode makeLicenseDir} writes. */
export interface LicenseDirOptions {
  seats?: number;
  customer?: string;
  expires?: string;
}

/** A fresh data directory with a key pair and a license, made by the real tasks. */
export async function makeLicenseDir(options: LicenseDirOptions = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_license_" });
  await runTaskOk("license:keygen", ["--data-dir", dir]);
  await runTaskOk("license:issue", [
    "--data-dir",
    dir,
    "--customer",
    options.customer ?? "Test Customer",
    "--seats",
    String(options.seats ?? 2),
    "--expires",
    options.expires ?? "2099-12-31",
  ]);
  return dir;
}

/** A running license server. */
export interface LicenseServerProcess {
  proc: RunningProcess;
  port: number;
  dataDir: string;
  /** Lines logged so far. */
  lines: string[];
  /** The status, asked over TCP the way `license:status` asks. */
  status(audit?: number): Promise<StatusData>;
  /** Stops the server; returns its exit code. */
  stop(): Promise<number>;
}

/** Starts `deno task license --port 0` on a data directory. */
export async function startLicenseServer(
  options: { dataDir: string; heartbeatMs?: number; args?: string[] },
): Promise<LicenseServerProcess> {
  const proc = await startProcess({
    task: "license",
    args: [
      "--port",
      "0",
      "--data-dir",
      options.dataDir,
      "--heartbeat-ms",
      String(options.heartbeatMs ?? HEARTBEAT_MS),
      ...(options.args ?? []),
    ],
    ready: /license listening tcp=tcp:\/\/(\S+):(\d+)/,
  });
  const port = Number(proc.match[2]);
  return {
    proc,
    port,
    dataDir: options.dataDir,
    lines: proc.lines,
    status: (audit = 0) => queryStatus({ host: "127.0.0.1", port, audit }),
    stop: () => proc.stop(),
  };
}

/** A decoded frame with its type's name and its body parsed as JSON (when it is JSON). */
export interface ReceivedFrame extends Frame {
  name: MessageTypeName | undefined;
  json: Record<string, unknown>;
}

/** Options of {@linkcode RawConn.open}. */
export interface RawConnOptions {
  types?: MessageTypes;
  /** Answer the server's HeartbeatReq, which keeps the connection alive (default true). */
  answerHeartbeats?: boolean;
}

/** A raw framed-TCP connection for tests. */
export class RawConn {
  #conn: Deno.TcpConn;
  #types: MessageTypes;
  #frames: ReceivedFrame[] = [];
  #wakers = new Set<() => void>();
  #seq = 0;
  #eof = false;
  #reading: Promise<void>;
  /** Answer the server's heartbeats (set false to go silent while keeping the socket). */
  answerHeartbeats: boolean;

  private constructor(conn: Deno.TcpConn, options: RawConnOptions) {
    this.#conn = conn;
    this.#types = options.types ?? new MessageTypes();
    this.answerHeartbeats = options.answerHeartbeats ?? true;
    this.#reading = this.#read();
  }

  /** Connects to the server on loopback. */
  static async open(port: number, options: RawConnOptions = {}): Promise<RawConn> {
    return new RawConn(await Deno.connect({ hostname: "127.0.0.1", port }), options);
  }

  /** Whether the server closed the connection. */
  get eof(): boolean {
    return this.#eof;
  }

  /** Sends raw bytes. */
  async sendBytes(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  /** Sends a frame; returns its sequence number. */
  async send(
    type: MessageTypeName | number,
    body: unknown = {},
    seq: number = ++this.#seq,
  ): Promise<number> {
    const number = typeof type === "number" ? type : this.#types.number(type);
    const text = typeof body === "string" ? body : JSON.stringify(body);
    await this.sendBytes(encodeFrame({ seq, type: number, body: text }));
    return seq;
  }

  /** Sends a request and resolves with the frame answering its sequence number. */
  async request(
    type: MessageTypeName | number,
    body: unknown = {},
    timeoutMs = 5000,
  ): Promise<ReceivedFrame> {
    const seq = await this.send(type, body);
    return await this.next((f) => f.seq === seq && f.name !== "HeartbeatReq", timeoutMs);
  }

  /** The next frame (taken out of the inbox) that `match` accepts; rejects on timeout or close. */
  next(
    match: (frame: ReceivedFrame) => boolean = (f) => f.name !== "HeartbeatReq",
    timeoutMs = 5000,
  ): Promise<ReceivedFrame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.#frames.findIndex(match);
        if (index >= 0) {
          done();
          resolve(this.#frames.splice(index, 1)[0]);
        } else if (this.#eof) {
          done();
          reject(new Error("The server closed the connection before the frame came"));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`No matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(check);
      };
      this.#wakers.add(check);
      check();
    });
  }

  /** Resolves true when the server closes the connection within `timeoutMs`, else false. */
  closedWithin(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (!this.#eof) return;
        done();
        resolve(true);
      };
      const timer = setTimeout(() => {
        done();
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(check);
      };
      this.#wakers.add(check);
      check();
    });
  }

  /** Half-closes: no more writes from this side, reading goes on. */
  async closeWrite(): Promise<void> {
    await this.#conn.closeWrite();
  }

  /** Closes the connection and waits for the reader to stop. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* closed */ }
    await this.#reading;
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        for (const frame of decoder.push(buffer.subarray(0, n))) {
          const name = this.#types.name(frame.type);
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(new TextDecoder().decode(frame.body));
          } catch { /* not JSON */ }
          if (name === "HeartbeatReq" && this.answerHeartbeats) {
            await this.send("HeartbeatRsp", { state: 1, time: Date.now() }, frame.seq)
              .catch(() => {});
          }
          this.#frames.push({ ...frame, name, json });
        }
        for (const wake of [...this.#wakers]) wake();
      }
    } catch { /* closed */ }
    this.#eof = true;
    for (const wake of [...this.#wakers]) wake();
  }
}

/** Polls `check` until it returns true; rejects after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${options.what ?? "it"}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
