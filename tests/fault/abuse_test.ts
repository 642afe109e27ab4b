/**
 * Clients that abuse the gate, against the real suite:
 * - slow readers (a WebSocket and a framed-TCP client that stop reading) in a group during a
 *   broadcast: the gate closes them once their unsent bytes pass `--max-unsent-bytes`, forgets
 *   them (the group service is told they left, and forgets them after its reconnect grace
 *   period), its memory stays bounded, and every other member gets every message;
 * - twice the connection limit at once: the excess is refused with a clear reason, the rest are
 *   served, and a freed slot can be used again;
 * - a flooding client: rate limited, every one of its requests answered once, while the other
 *   clients' requests are all served.
 *
 * `run({cases})`: `cases / 2` broadcast messages (at least 600), a connection limit of
 * `cases / 50` (20 to 200), `cases * 10` flood requests.
 *
 * @module
 */

import type { GateClient } from "../../client/mod.ts";
import {
  encodeFrame,
  FrameDecoder,
  frameText,
  GroupCmd,
  LoginCmd,
  State,
} from "../../shared/mod.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { openRaw } from "../helpers/raw.ts";
import { connectClient, INTEGRATION, startEcho, startGate, waitFor } from "../helpers/suite.ts";
import { Rng } from "./fuzz_cases.ts";
import {
  type CaseResult,
  check,
  gateConnections,
  gateMetric,
  memoryAfter,
  newResult,
  rssKiB,
  type RunOptions,
  seedFromEnv,
  withSeed,
} from "./harness.ts";
import { RawWebSocket } from "./raw_ws.ts";

/** A client below the library: requests by hand, and it can stop reading altogether. */
interface RawClient {
  request(cmd: string, data: unknown): Promise<Record<string, unknown>>;
  /** Stops reading: whatever the gate sends piles up. */
  pause(): void;
  /** Reads again until the gate's side ends; resolves with what ended it. */
  drainToEnd(timeoutMs: number): Promise<string>;
  close(): void;
}

let msgIds = 0;

async function rawWsClient(url: string): Promise<RawClient> {
  const ws = await RawWebSocket.open(url);
  return {
    async request(cmd, data) {
      const msgId = ++msgIds;
      await ws.sendText(JSON.stringify({ cmd, is_req: true, msgId, data }));
      while (true) {
        const event = await ws.next(10_000);
        if (event.kind !== "text") throw new Error(`No answer to ${cmd}: ${event.kind}`);
        const body = JSON.parse(event.text);
        if (body.is_resp && body.msgId === msgId) return body;
      }
    },
    pause: () => ws.pause(),
    async drainToEnd(timeoutMs) {
      await ws.resume();
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const event = await ws.next(deadline - Date.now()).catch(() => undefined);
        if (!event) break;
        if (event.kind === "close") return `close ${event.code} ${event.reason}`;
        if (event.kind === "eof") return "end of stream";
      }
      return "still open";
    },
    close: () => ws.close(),
  };
}

async function rawTcpClient(url: string): Promise<RawClient> {
  const [, host, port] = url.match(/^tcp:\/\/([^:]+):(\d+)$/)!;
  const conn = await Deno.connect({ hostname: host, port: Number(port) });
  const decoder = new FrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });
  const buffer = new Uint8Array(64 * 1024);
  const inbox: string[] = [];
  const readSome = async (): Promise<boolean> => {
    const n = await conn.read(buffer);
    if (n === null) return false;
    for (const frame of decoder.push(buffer.subarray(0, n))) inbox.push(frameText(frame));
    return true;
  };
  return {
    async request(cmd, data) {
      const msgId = ++msgIds;
      const frame = encodeFrame({
        seq: msgId,
        type: 100,
        body: JSON.stringify({ cmd, is_req: true, msgId, data }),
      });
      let offset = 0;
      while (offset < frame.length) offset += await conn.write(frame.subarray(offset));
      while (true) {
        while (inbox.length > 0) {
          const body = JSON.parse(inbox.shift()!);
          if (body.is_resp && body.msgId === msgId) return body;
        }
        if (!await readSome()) throw new Error(`No answer to ${cmd}: closed`);
      }
    },
    pause() {/* reading happens only inside request() */},
    async drainToEnd(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      try {
        while (Date.now() < deadline) {
          const timer = new Promise<"timeout">((r) =>
            setTimeout(() => r("timeout"), deadline - Date.now())
          );
          const read = await Promise.race([readSome(), timer]);
          if (read === "timeout") break;
          if (!read) return "end of stream";
        }
      } catch (error) {
        return `error ${(error as Error).message}`;
      }
      return "still open";
    },
    close: () => {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/** Registers, logs in and joins a group over a raw client. */
async function rawMember(client: RawClient, group: { groupId: string; key: string }) {
  const username = uniqueName("slow");
  const steps: Array<[string, unknown]> = [
    [LoginCmd.REGISTER, { username, password: TEST_PASSWORD }],
    [LoginCmd.LOGIN, { username, password: TEST_PASSWORD }],
    [GroupCmd.JOIN, group],
  ];
  let clientId = 0;
  for (const [cmd, data] of steps) {
    const response = await client.request(cmd, data);
    if (response.state !== State.OK) throw new Error(`${cmd} failed: ${response.msg}`);
    if (cmd === GroupCmd.JOIN) {
      const members = (response.data as { members: Array<{ clientId: number; userId: number }> })
        .members;
      clientId = members.at(-1)!.clientId;
    }
  }
  return clientId;
}

/** Slow readers in a group during a broadcast. */
export async function slowReaders(options: RunOptions): Promise<CaseResult> {
  const row = newResult("slow readers in a group broadcast");
  const messages = Math.max(600, Math.floor(options.cases / 2));
  const MAX_UNSENT = 256 * 1024;
  const gate = await startGate({
    flags: ["--max-unsent-bytes", String(MAX_UNSENT), "--rate", "100000", "--burst", "100000"],
  });
  // A closed slow reader's members keep their place for the reconnect grace period (away, sent
  // nothing); a short one here, after which the group forgets them.
  const graceMs = 1000;
  const services = await Promise.all([
    startLogin(gate),
    startGroup(gate, { flags: ["--reconnect-grace-ms", String(graceMs)] }),
  ]);
  const clients: GateClient[] = [];
  const raws: RawClient[] = [];
  try {
    const owner = await loggedInClient(gate.wsUrl, "owner");
    clients.push(owner.client);
    const group = await owner.client.requestOk<{ groupId: string; key: string }>(
      GroupCmd.CREATE,
      {},
    );
    const members = await Promise.all(
      Array.from(
        { length: 4 },
        (_, i) => loggedInClient(i % 2 ? gate.tcpUrl : gate.wsUrl, "member"),
      ),
    );
    const received = members.map(() => 0);
    members.forEach((m, i) => {
      clients.push(m.client);
      m.client.on(GroupCmd.MSG, () => received[i]++);
    });
    for (const m of members) {
      await m.client.requestOk(GroupCmd.JOIN, { groupId: group.groupId, key: group.key });
    }
    const slowWs = await rawWsClient(gate.wsUrl);
    const slowTcp = await rawTcpClient(gate.tcpUrl);
    raws.push(slowWs, slowTcp);
    const slowIds = [await rawMember(slowWs, group), await rawMember(slowTcp, group)];
    slowWs.pause();
    slowTcp.pause();
    row.faults += 2;

    // Warm up, then read the baseline.
    const blob = "m".repeat(16_000);
    const send = (n: number) =>
      owner.client.request<{ reached: number }>(GroupCmd.SEND, {
        groupId: group.groupId,
        data: { n, blob },
      }, { timeoutMs: 30_000 });
    const baselineKiB = await rssKiB(gate.child.pid);
    const connectionsBefore = await gateConnections(gate.httpUrl);

    let sent = 0;
    let answered = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (sent < messages) {
        const n = sent++;
        const response = await send(n).catch((e: Error) => e);
        if (response instanceof Error) failures.push(response.message);
        else if (response.state !== State.OK) failures.push(`${response.state} ${response.msg}`);
        else answered++;
      }
    }));
    row.tried = messages;
    row.answered = answered;
    row.unanswered = messages - answered;
    const ctx = { seed: options.seed, name: row.name };
    check(failures.length === 0, {
      ...ctx,
      detail: `sends failed: ${failures.slice(0, 3).join("; ")}`,
    });
    // Every other member gets every message.
    await waitFor(() => received.every((n) => n === messages), {
      what: "every message at every member that reads",
      timeoutMs: 30_000,
    }).catch(() => {});
    row.lost = received.reduce((sum, n) => sum + (messages - n), 0);
    check(row.lost === 0, {
      ...ctx,
      detail: `members missed messages: got ${received.join(", ")} of ${messages}`,
    });
    // Both slow readers were closed, and the gate and the group forgot them.
    check(await gateMetric(gate.httpUrl, "gatehouse_slow_readers_closed_total") === 2, {
      ...ctx,
      detail: `slow readers closed: ${await gateMetric(
        gate.httpUrl,
        "gatehouse_slow_readers_closed_total",
      )}`,
    });
    await waitFor(async () => (await gateConnections(gate.httpUrl)) === connectionsBefore - 2, {
      what: "the gate to forget the slow readers",
    }).catch(async () => {
      throw new Error(
        `The gate still counts ${await gateConnections(gate.httpUrl)} connections, ` +
          `not ${connectionsBefore - 2}: a closed slow reader is kept`,
      );
    });
    const stillInGroup = async () => {
      const info = await owner.client.requestOk<{ members: Array<{ clientId: number }> }>(
        GroupCmd.MEMBERS,
        { groupId: group.groupId },
      );
      return info.members.filter((m) => slowIds.includes(m.clientId));
    };
    let stillIn = await stillInGroup();
    const deadline = Date.now() + graceMs + 10_000;
    while (stillIn.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stillIn = await stillInGroup();
    }
    check(stillIn.length === 0, {
      ...ctx,
      detail: `slow readers still in the group: ${JSON.stringify(stillIn)}`,
    });
    const memory = await memoryAfter({ pid: gate.child.pid, baselineKiB });
    check(memory.ok, { ...ctx, detail: `gate memory not bounded: ${memory.line}` });
    // When they read at last, they find the connection closed.
    const ends = await Promise.all(raws.map((raw) => raw.drainToEnd(30_000)));
    check(ends.every((end) => end !== "still open"), {
      ...ctx,
      detail: `a slow reader's connection is still open: ${ends.join("; ")}`,
    });
    row.notes.push(
      `${messages} × 16 KB to ${members.length + 3} members; gate ${memory.line}; ${
        ends.join("; ")
      }`,
    );
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    for (const client of clients) client.close();
    for (const raw of raws) raw.close();
    await Promise.all(services.map((s) => s.stop()));
    await gate.stop();
  }
}

/** Twice the connection limit at once. */
export async function connectionLimit(options: RunOptions): Promise<CaseResult> {
  const row = newResult("twice the connection limit");
  const limit = Math.min(200, Math.max(20, Math.floor(options.cases / 50)));
  const gate = await startGate({ flags: ["--max-connections", String(limit)] });
  const opened: Array<{ close(): void }> = [];
  try {
    // Every client talks first (a heartbeat as soon as it is open), as the client library does
    // when it logs in again by token: the refusal must reach it all the same.
    const attempt = async (url: string) => {
      const raw = await openRaw(url);
      opened.push(raw);
      raw.send(JSON.stringify({ cmd: "cs_msg_heart", is_req: true, msgId: 1, data: {} }));
      const first = await raw.next(10_000);
      if (first.kind === "close") {
        return { accepted: false, reason: first.reason, code: first.code };
      }
      const body = JSON.parse(first.text);
      if (first.type !== 255 && body.cmd !== "sc_msg_error") {
        return { accepted: body.state === State.OK, reason: "" };
      }
      // An error naming the reason (an Error frame over TCP, sc_msg_error over WebSocket, once
      // more for each message sent), then the close (with 1013 and the reason over WebSocket).
      const reason: string = first.type === 255 ? body.msg : body.data.msg;
      for (let i = 0; i < 10; i++) {
        const next = await raw.next(10_000).catch(() => undefined);
        if (!next) break;
        if (next.kind === "text") continue;
        if (!url.startsWith("ws")) return { accepted: false, reason, closed: true };
        return {
          accepted: false,
          reason: next.reason === reason ? reason : `${reason} / ${next.reason}`,
          code: next.code,
        };
      }
      return { accepted: false, reason, closed: false };
    };
    const attempts = await Promise.all(
      Array.from({ length: 2 * limit }, (_, i) => attempt(i % 2 ? gate.tcpUrl : gate.wsUrl)),
    );
    const accepted = attempts.filter((a) => a.accepted).length;
    const refused = attempts.filter((a) => !a.accepted);
    row.tried = attempts.length;
    row.faults = limit;
    row.answered = attempts.length;
    const ctx = { seed: options.seed, name: row.name };
    check(accepted === limit, { ...ctx, detail: `${accepted} accepted, not ${limit}` });
    const unclear = refused.filter((r) =>
      !new RegExp(`limit of ${limit} connections`).test(r.reason) ||
      ("code" in r && r.code !== 1013) || ("closed" in r && !r.closed)
    );
    check(unclear.length === 0, {
      ...ctx,
      detail: `refusals without a clear reason and close: ${JSON.stringify(unclear.slice(0, 3))}`,
    });
    // More of them while the gate is full, each talking as soon as it is open, in rounds: every
    // one refused, every time with the reason.
    const more = [];
    for (let round = 0; round < 10; round++) {
      more.push(
        ...await Promise.all(
          Array.from({ length: 50 }, (_, i) => attempt(i % 10 ? gate.wsUrl : gate.tcpUrl)),
        ),
      );
    }
    row.tried += more.length;
    row.faults += more.length;
    row.answered += more.length;
    const unclearMore = more.filter((r) =>
      r.accepted || !new RegExp(`limit of ${limit} connections`).test(r.reason) ||
      ("code" in r && r.code !== 1013) || ("closed" in r && !r.closed)
    );
    check(unclearMore.length === 0, {
      ...ctx,
      detail: `talking clients refused without the reason: ${
        JSON.stringify(unclearMore.slice(0, 3))
      }`,
    });
    check(
      await gateMetric(gate.httpUrl, "gatehouse_connections_refused_total") === limit + more.length,
      { ...ctx, detail: "refusals not counted" },
    );
    // Freed slots can be used again.
    for (const raw of opened.splice(0)) raw.close();
    await waitFor(async () => (await gateConnections(gate.httpUrl)) === 0, {
      what: "every slot free",
    });
    const again = await connectClient(gate.tcpUrl);
    const heart = await again.request("cs_msg_heart");
    again.close();
    check(heart.state === State.OK, { ...ctx, detail: "a freed slot could not be used" });
    row.notes.push(`${limit} accepted, ${refused.length} refused with "${refused[0]?.reason}"`);
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    for (const raw of opened) raw.close();
    await gate.stop();
  }
}

/** A flooding client, rate limited, while the others are served. */
export async function flood(options: RunOptions): Promise<CaseResult> {
  const row = newResult("flooding client");
  const RATE = 50;
  const floodRequests = Math.max(10_000, options.cases * 10);
  const rng = new Rng(options.seed + 7);
  const gate = await startGate({ flags: ["--rate", String(RATE), "--burst", String(RATE)] });
  const echo = await startEcho(gate);
  const others: GateClient[] = [];
  let raw: Deno.TcpConn | undefined;
  try {
    for (let i = 0; i < 4; i++) others.push(await connectClient(i % 2 ? gate.tcpUrl : gate.wsUrl));
    await others[0].request("echo", {});
    const baselineKiB = await rssKiB(gate.child.pid);
    // The flooder pipelines framed requests as fast as it can write them, and reads every answer.
    const [, host, port] = gate.tcpUrl.match(/^tcp:\/\/([^:]+):(\d+)$/)!;
    raw = await Deno.connect({ hostname: host, port: Number(port) });
    const conn = raw;
    const states = new Map<number, number>();
    const seen = new Set<number>();
    let duplicates = 0;
    let answers = 0;
    const reader = (async () => {
      const decoder = new FrameDecoder();
      const buffer = new Uint8Array(256 * 1024);
      while (answers < floodRequests) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        for (const frame of decoder.push(buffer.subarray(0, n))) {
          const body = JSON.parse(frameText(frame));
          if (!body.is_resp) continue;
          answers++;
          if (seen.has(body.msgId)) duplicates++;
          seen.add(body.msgId);
          states.set(body.state, (states.get(body.state) ?? 0) + 1);
        }
      }
    })();
    const started = performance.now();
    const writer = (async () => {
      const batch = 500;
      for (let first = 1; first <= floodRequests; first += batch) {
        const frames = [];
        for (let id = first; id < first + batch && id <= floodRequests; id++) {
          const cmd = rng.chance(0.5) ? "echo" : "cs_msg_heart";
          frames.push(
            encodeFrame({
              seq: id,
              type: 100,
              body: JSON.stringify({ cmd, is_req: true, msgId: id, data: {} }),
            }),
          );
        }
        const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
        let offset = 0;
        for (const f of frames) {
          bytes.set(f, offset);
          offset += f.length;
        }
        offset = 0;
        while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
      }
    })();
    // The others go on meanwhile, and are all served.
    let flooding = true;
    const otherFailures: string[] = [];
    let served = 0;
    const othersDone = Promise.all(others.map(async (client, i) => {
      while (flooding) {
        const response = await client.request("echo", { i }).catch((e: Error) => e);
        if (response instanceof Error) otherFailures.push(response.message);
        else if (response.state !== State.OK) otherFailures.push(`state ${response.state}`);
        else served++;
        await new Promise((r) => setTimeout(r, 40));
      }
    }));
    await writer;
    await Promise.race([reader, new Promise((r) => setTimeout(r, 60_000))]);
    const elapsedS = (performance.now() - started) / 1000;
    flooding = false;
    await othersDone;
    row.tried = floodRequests;
    row.faults = floodRequests;
    row.answered = answers;
    row.unanswered = floodRequests - answers;
    const ok = states.get(State.OK) ?? 0;
    const limited = states.get(State.RATE_LIMITED) ?? 0;
    const ctx = { seed: options.seed, name: row.name };
    check(answers === floodRequests && duplicates === 0, {
      ...ctx,
      detail: `${answers} answers (${duplicates} twice) to ${floodRequests} flood requests`,
    });
    check(ok + limited === floodRequests, {
      ...ctx,
      detail: `answers other than OK and RATE_LIMITED: ${
        JSON.stringify(Object.fromEntries(states))
      }`,
    });
    // A generous ceiling from the measured time: the burst, the rate, and a second of slack.
    check(ok <= RATE * (elapsedS + 2), {
      ...ctx,
      detail: `${ok} served in ${elapsedS.toFixed(1)} s at ${RATE}/s`,
    });
    check(otherFailures.length === 0 && served > 0, {
      ...ctx,
      detail: `the others were not served: ${
        otherFailures.slice(0, 3).join("; ")
      } (${served} served)`,
    });
    const memory = await memoryAfter({ pid: gate.child.pid, baselineKiB });
    check(memory.ok, { ...ctx, detail: `gate memory not bounded: ${memory.line}` });
    row.notes.push(
      `${floodRequests} flood requests in ${
        elapsedS.toFixed(1)
      } s: ${ok} OK, ${limited} RATE_LIMITED; ` +
        `others served ${served}; gate ${memory.line}`,
    );
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    try {
      raw?.close();
    } catch { /* closed */ }
    for (const client of others) client.close();
    await echo.stop();
    await gate.stop();
  }
}

/** Every abuse scenario, one after another. */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  const rows: CaseResult[] = [];
  for (const scenario of [slowReaders, connectionLimit, flood]) {
    rows.push(await withSeed({ seed: options.seed, name: scenario.name }, () => scenario(options)));
  }
  return rows;
}

const SEED = seedFromEnv(20_241_124);
const short: RunOptions = { seed: SEED, cases: 1000, log: console.log };

Deno.test({
  name: "abuse: slow readers in a group broadcast are closed and forgotten; memory stays bounded",
  ...INTEGRATION,
  fn: () => withSeed({ seed: SEED, name: "slow readers" }, () => slowReaders(short)).then(() => {}),
});

Deno.test({
  name: "abuse: twice the connection limit: the excess is refused with a clear reason",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "connection limit" }, () => connectionLimit(short)).then(() => {}),
});

Deno.test({
  name: "abuse: a flooding client is rate limited and the others are still served",
  ...INTEGRATION,
  fn: () => withSeed({ seed: SEED, name: "flood" }, () => flood(short)).then(() => {}),
});
