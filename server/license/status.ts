/**
 * `deno task license:status --port P` (and `--host`, `--data-dir`): prints the server's version
 * and uptime and the seats held, like `lmstat`, by asking the running server. It connects to the
 * license port and sends one frame of type `Envelope` holding the request `{cmd:
 * "license_status", is_req: true, msgId: 1, data: {audit: N}}`; the server answers with an
 * `Envelope` response whose `data` is the status (see `messages.ts`). When the server cannot be
 * reached, it says so and, when `--data-dir` holds a license file, prints what that file grants
 * (verified with its `license.pub`). Exit codes: 0 answered, 1 no answer, 2 bad flags.
 *
 * @module
 */

import { makeRequest, parseEnvelope } from "../../shared/envelope.ts";
import { encodeFrame, type Frame, FrameDecoder, frameText } from "../../shared/frame.ts";
import { LicenseCmd } from "../../shared/license_messages.ts";
import { MessageTypes } from "../../shared/message_types.ts";
import { State, stateName } from "../../shared/state_codes.ts";
import { writeAll } from "../socket_writes.ts";
import { parseFlags, usageError } from "./cli.ts";
import { checkLicense } from "./license_file.ts";
import { MAX_STATUS_AUDIT, type StatusData, type StatusSeat } from "./messages.ts";

const HELP = `Usage: deno task license:status [options]

Prints the seats a running license server holds, who holds them, and who waits.

Options:
  --host HOST        The server's address (default 127.0.0.1)
  --port PORT        The server's port (default 8090)
  --data-dir DIR     When the server does not answer, report DIR's license file (default ./data)
  --types FILE       Message-type table as JSON, when the server uses one
  --audit N          Also print the latest N audit events (0 to ${MAX_STATUS_AUDIT}, default 0)
  --json             Print the server's answer as JSON
  --timeout-ms MS    How long to wait for the answer (default 5000)
  --version          Print the version
  --help             Show this help`;

/** Options of {@linkcode queryStatus}. */
export interface QueryOptions {
  /** The server's address. */
  host: string;
  /** The server's port. */
  port: number;
  /** The message-type table the server uses; the defaults when absent. */
  types?: MessageTypes;
  /** How many of the latest audit events to ask for. */
  audit?: number;
  /** How long to wait for the answer; default 5000 ms. */
  timeoutMs?: number;
}

/** Asks a running license server for its status; throws with a sentence when it cannot. */
export async function queryStatus(options: QueryOptions): Promise<StatusData> {
  const types = options.types ?? new MessageTypes();
  const timeoutMs = options.timeoutMs ?? 5000;
  const conn = await Deno.connect({ hostname: options.host, port: options.port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    const request = makeRequest(LicenseCmd.STATUS, {
      msgId: 1,
      data: { audit: options.audit ?? 0 },
    });
    const envelopeType = types.number("Envelope");
    await writeAll(
      conn,
      encodeFrame({ seq: 1, type: envelopeType, body: JSON.stringify(request) }),
    );
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      let n: number | null = null;
      try {
        n = await conn.read(buffer);
      } catch { /* closed by the timer */ }
      if (n === null) {
        throw new Error(`The license server did not answer within ${timeoutMs} ms`);
      }
      for (const frame of decoder.push(buffer.subarray(0, n))) {
        const answer = readAnswer(frame, types);
        if (answer) return answer;
      }
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

function readAnswer(frame: Frame, types: MessageTypes): StatusData | undefined {
  if (frame.type === types.number("Error")) {
    throw new Error(`The license server reported an error: ${frameText(frame)}`);
  }
  if (frame.type !== types.number("Envelope")) return undefined;
  const parsed = parseEnvelope(frameText(frame));
  if (!parsed.ok) throw new Error(`The license server's answer is malformed: ${parsed.error}`);
  const rsp = parsed.envelope as {
    is_resp?: boolean;
    msgId?: number;
    state?: number;
    msg?: string;
    data?: unknown;
  };
  if (rsp.is_resp !== true || rsp.msgId !== 1) return undefined;
  if (rsp.state !== State.OK) {
    throw new Error(
      `The license server refused the status request: ${stateName(rsp.state!)} ${rsp.msg ?? ""}`
        .trim(),
    );
  }
  const data = rsp.data as StatusData;
  if (typeof data !== "object" || data === null || !Array.isArray(data.holders)) {
    throw new Error("The license server's status answer has no list of holders");
  }
  return data;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => "  " + row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}

function seatRows(seats: StatusSeat[]): string[][] {
  return [
    ["INSTANCE", "HOST", "USER", "REMOTE", "SINCE", "LAST HEARTBEAT"],
    ...seats.map((s) => [s.instanceId, s.host, s.user, s.remote, s.since, s.lastHeartbeat]),
  ];
}

/** Whole seconds as `3d 4h`, `2h 5m`, `4m 10s` or `7s`. */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor(seconds / 3600) % 24;
  const m = Math.floor(seconds / 60) % 60;
  const s = seconds % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/** The status as `lmstat`-like text. */
export function formatStatus(status: StatusData, server: string): string {
  const { dog } = status;
  const lines = [
    `License server status: ${server} (version ${status.version}, up ${
      formatUptime(status.uptimeS)
    })`,
  ];
  lines.push(
    dog.valid && !dog.expired
      ? `License: ${dog.customer}, ${dog.seats} seats, valid through ${dog.expiresAt}`
      : `License: not usable: ${dog.reason ?? "unknown reason"}`,
  );
  const load = `heartbeat ${status.heartbeatMs} ms, ${status.connections} connections`;
  if (status.seats > 0) {
    lines.push(
      `Seats: ${status.seatsUsed} of ${status.seats} in use, ${status.seatsLeft} free, ` +
        `${status.waiting.length} waiting (${load})`,
    );
  } else {
    // No usable license: "3 of 0 in use" would read as a bug, so say what is wrong instead.
    const why = dog.valid && dog.expired ? "the license has expired" : "no license loaded";
    const held = status.seatsUsed > 0 ? `, ${status.seatsUsed} still held` : "";
    lines.push(
      `Seats: none can be granted, ${why}${held}, ${status.waiting.length} waiting (${load})`,
    );
  }
  lines.push("", "Seats held:");
  lines.push(status.holders.length > 0 ? table(seatRows(status.holders)) : "  (none)");
  if (status.waiting.length > 0) lines.push("", "Waiting:", table(seatRows(status.waiting)));
  if (status.audit.length > 0) {
    lines.push("", `Audit (latest ${status.audit.length}):`);
    lines.push(table([
      ["AT", "EVENT", "INSTANCE", "HOST", "USER", "REASON", "SEATS LEFT"],
      ...status.audit.map((a) => [
        a.at,
        a.event,
        a.instanceId,
        a.host,
        a.user,
        a.reason,
        String(a.seatsLeft),
      ]),
    ]));
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const values = parseFlags(Deno.args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8090" },
    "data-dir": { type: "string", default: "./data" },
    types: { type: "string" },
    audit: { type: "string", default: "0" },
    json: { type: "boolean", default: false },
    "timeout-ms": { type: "string", default: "5000" },
  }, HELP);
  if (!values) return;
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port < 1 || port > 65535) {
    usageError("Flag --port must be a whole number from 1 to 65535");
  }
  const audit = Number(values.audit);
  if (!/^\d+$/.test(values.audit) || audit > MAX_STATUS_AUDIT) {
    usageError(`Flag --audit must be a whole number from 0 to ${MAX_STATUS_AUDIT}`);
  }
  const timeoutMs = Number(values["timeout-ms"]);
  if (!/^\d+$/.test(values["timeout-ms"]) || timeoutMs < 1) {
    usageError("Flag --timeout-ms must be a positive whole number");
  }
  let types: MessageTypes | undefined;
  if (values.types !== undefined) {
    try {
      types = MessageTypes.fromJson(await Deno.readTextFile(values.types));
    } catch (error) {
      usageError(
        `The message-type file ${values.types} cannot be used: ${(error as Error).message}`,
      );
    }
  }
  const server = `tcp://${values.host}:${port}`;
  try {
    const status = await queryStatus({ host: values.host, port, types, audit, timeoutMs });
    console.log(values.json ? JSON.stringify(status, null, 2) : formatStatus(status, server));
  } catch (error) {
    console.error(`The license server at ${server} did not answer: ${(error as Error).message}`);
    const dog = await checkLicense({ dataDir: values["data-dir"] });
    if (dog.present) {
      console.error(
        dog.valid && !dog.expired
          ? `The license file in ${
            values["data-dir"]
          } grants ${dog.seats} seats to ${dog.customer} through ${dog.expiresAt}`
          : `The license file in ${values["data-dir"]} is not usable: ${dog.reason}`,
      );
    }
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
