/**
 * Fuzzing the license server: its frames (`LoginReq`, `LogoutReq`, heartbeats, dog status,
 * `Envelope` status requests, the types it never answers, and types it does not know), with
 * bodies and headers mutated, sent over its framed-TCP port. Every whole frame must get its
 * answer (a `*Rsp`, an `Error`, an envelope) except the two types the protocol leaves unanswered,
 * a bad header an `Error` and a close; a licensed bystander keeps its seat all along; and after
 * the run no seat is held, no connection left over, and the server's memory is back.
 *
 * `run({cases})`: `cases` fuzz inputs.
 *
 * @module
 */

import { LicenseClient, type LicenseStatusEvent } from "../../client/mod.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FrameDecoder,
  FrameError,
  MessageTypes,
} from "../../shared/mod.ts";
import { makeLicenseDir, startLicenseServer } from "../license/license_fixtures.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";
import { mutateEnvelope, mutateFrame, randomJson, Rng, wrongValue } from "./fuzz_cases.ts";
import { isSentinel, Lane, type Prediction, tcpLink } from "./fuzz_lanes.ts";
import {
  type CaseResult,
  check,
  memoryAfter,
  newResult,
  rssKiB,
  type RunOptions,
  SeededFailure,
  seedFromEnv,
  withSeed,
} from "./harness.ts";

const TYPES = new MessageTypes();
const MAX = DEFAULT_MAX_FRAME_BYTES;

/** The seats the fuzz license grants: more than the lanes could ever hold, so none queue. */
const SEATS = 100;

/** Types and how often each is tried; the numbers are the default table's. */
const TYPE_CHOICES: ReadonlyArray<{ type: number; weight: number }> = [
  { type: TYPES.number("LoginReq"), weight: 5 },
  { type: TYPES.number("LogoutReq"), weight: 2 },
  { type: TYPES.number("HeartbeatReq"), weight: 2 },
  { type: TYPES.number("GetDogStatusReq"), weight: 2 },
  { type: TYPES.number("Envelope"), weight: 3 },
  { type: TYPES.number("HeartbeatRsp"), weight: 1 },
  { type: TYPES.number("LoginRsp"), weight: 1 },
  { type: TYPES.number("Error"), weight: 1 },
  { type: 0, weight: 1 },
  { type: 42, weight: 1 },
];

/** Types the server never answers (DESIGN.md): the peer's heartbeat answer and its `Error`. */
const UNANSWERED = new Set([TYPES.number("HeartbeatRsp"), TYPES.number("Error")]);

const ALL_TYPES = [...new Set([...TYPE_CHOICES.map((c) => c.type), 1, 2, 3, 4, 5, 6, 7, 8])];

function pickType(rng: Rng): number {
  const total = TYPE_CHOICES.reduce((n, c) => n + c.weight, 0);
  let roll = rng.int(total);
  for (const choice of TYPE_CHOICES) {
    if (roll < choice.weight) return choice.type;
    roll -= choice.weight;
  }
  return TYPE_CHOICES[0].type;
}

/** A plausible body for a type, before mutation. */
function seedBody(rng: Rng, type: number): Record<string, unknown> {
  const name = TYPES.name(type);
  if (name === "LoginReq") {
    return {
      instanceId: `fz-${rng.text(16)}`,
      host: rng.pick(["lab-pc", "ws-12.example", "h"]),
      user: rng.pick(["ada", "grace", "u"]),
      wait: rng.chance(0.3),
    };
  }
  if (name === "Envelope") {
    return rng.chance(0.8)
      ? {
        cmd: "license_status",
        is_req: true,
        msgId: rng.range(1, 2 ** 31),
        data: { audit: rng.int(5) },
      }
      : {
        cmd: rng.pick(["nope", "license_queued"]),
        is_req: true,
        msgId: rng.range(1, 2 ** 31),
        data: randomJson(rng),
      };
  }
  if (name === "HeartbeatRsp") return { state: 1, time: Date.now() };
  if (name === "Error") return { code: 1006, msg: "peer fault" };
  if (name === "LoginRsp") return { state: 1, seats: 2, seatsLeft: 1, heartbeatMs: 200 };
  return rng.chance(0.8) ? {} : { extra: wrongValue(rng) };
}

/** One license fuzz case. */
export interface LicenseCase {
  index: number;
  bytes: Uint8Array;
  prediction: Prediction;
  mutations: string[];
}

/** Case `index` of `seed`: the same bytes every time. */
export function licenseCase(seed: number, index: number): LicenseCase {
  const rng = Rng.forCase(seed, index);
  const type = pickType(rng);
  const body = mutateEnvelope(rng, seedBody(rng, type), {
    maxBytes: MAX,
    strangers: ["nope"],
    fields: ["instanceId", "host", "user", "wait", "cmd", "msgId", "data", "is_req", "audit"],
    byteMutationRate: 0.3,
  });
  // An empty or unchanged body is a valid request too; sometimes send none at all.
  const bytes = rng.chance(0.05) ? new Uint8Array() : body.bytes;
  const framed = mutateFrame(rng, bytes, { type, types: ALL_TYPES, maxFrameBytes: MAX });
  return {
    index,
    bytes: framed.bytes,
    prediction: predict(framed.bytes),
    mutations: [`type ${type}`, ...body.mutations, ...framed.mutations],
  };
}

/** Every whole frame is answered but HeartbeatRsp and Error; a bad header: Error and close. */
function predict(bytes: Uint8Array): Prediction {
  const decoder = new FrameDecoder({ maxFrameBytes: MAX });
  const answers = (frames: { type: number }[]) =>
    frames.filter((frame) => !UNANSWERED.has(frame.type)).length;
  try {
    const frames = decoder.push(bytes);
    return { answers: answers(frames), end: decoder.bufferedBytes > 0 ? "partial" : "open" };
  } catch (error) {
    if (error instanceof FrameError) return { answers: answers(error.framesBefore), end: "fault" };
    throw error;
  }
}

/** The sentinel: a status request whose msgId the lane recognises. */
function sentinel(n: number): Uint8Array {
  return encodeFrame({
    seq: 7,
    type: TYPES.number("Envelope"),
    body: JSON.stringify({ cmd: "license_status", is_req: true, msgId: n, data: {} }),
  });
}

/** Runs `cases` license fuzz cases against a fresh server; throws, naming the seed, on failure. */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  const name = "fuzz license server";
  return await withSeed({ seed: options.seed, name }, async () => {
    const dataDir = await makeLicenseDir({ seats: SEATS });
    const server = await startLicenseServer({ dataDir, heartbeatMs: 2000 });
    const bystander = new LicenseClient();
    const events: LicenseStatusEvent[] = [];
    try {
      await bystander.start(
        { port: server.port, user: "bystander", hostName: "pc" },
        undefined,
        (event) => events.push(event),
      );
      check((await bystander.sendLoginReq()).state === 1, {
        seed: options.seed,
        name,
        detail: "the bystander got no seat",
      });
      return [await fuzz({ server, options, name, events })];
    } catch (error) {
      const notable = server.lines.filter((l) =>
        / (WARN|ERROR) /.test(l) &&
        !/refuse|frame error|unknown type|bad request|peer error|truncated|superseded/.test(l)
      );
      if (error instanceof Error && notable.length > 0) {
        error.message += `\n  last warnings:\n    ${notable.slice(-10).join("\n    ")}`;
      }
      throw error;
    } finally {
      await bystander.stop();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

async function fuzz(
  context: {
    server: Awaited<ReturnType<typeof startLicenseServer>>;
    options: RunOptions;
    name: string;
    events: LicenseStatusEvent[];
  },
): Promise<CaseResult> {
  const { server, options, name, events } = context;
  const row = newResult(name);
  const ctx = { seed: options.seed, name };
  const factory = tcpLink({
    port: server.port,
    sentinel,
    classify: (frame) => {
      if (frame.type === TYPES.number("HeartbeatReq")) return { tally: "other" };
      if (frame.type === TYPES.number("Envelope")) {
        try {
          const body = JSON.parse(frame.text);
          if (body.is_resp === true && isSentinel(body.msgId)) {
            return { tally: "sentinel", sentinel: body.msgId };
          }
        } catch { /* an answer all the same */ }
      }
      return { tally: "answer" };
    },
  });
  const eventsBefore = events.length;
  // The first part of the cases (and a burst of the largest frames on every lane) warms the
  // server up: the allocator keeps what its largest frames needed, which is not a leak. Memory
  // is measured from there.
  const LANES = 4;
  const lanes = Array.from({ length: LANES }, () => new Lane(factory));
  const big = encodeFrame({
    seq: 1,
    type: TYPES.number("HeartbeatReq"),
    body: "x".repeat(MAX - 64),
  });
  await Promise.all(lanes.map(async (lane) => {
    for (let i = 0; i < 4; i++) await lane.run(big, { answers: 1, end: "open" });
  }));
  const warmUp = Math.min(20_000, Math.max(500, Math.floor(options.cases / 5)));
  const started = Date.now();
  let done = 0;
  let baselineKiB = 0;
  const progress = setInterval(async () => {
    const rss = await rssKiB(server.proc.child.pid).catch(() => 0);
    options.log(
      `[soak] ${name}: ${done.toLocaleString("en-US")} of ${
        options.cases.toLocaleString("en-US")
      } ` +
        `cases, ${Math.round((Date.now() - started) / 1000)} s, RSS ${(rss / 1024).toFixed(1)} MiB`,
    );
  }, 10_000);
  const runCases = (from: number, to: number) =>
    Promise.all(lanes.map(async (lane, l) => {
      for (let index = from + l; index < to; index += LANES) {
        const testCase = licenseCase(options.seed, index);
        row.tried++;
        if (testCase.mutations.length > 1) row.faults++;
        try {
          await lane.run(testCase.bytes, testCase.prediction);
        } catch (error) {
          throw new SeededFailure({
            ...ctx,
            caseIndex: index,
            detail: `case [${testCase.mutations.join(", ")}] expected ` +
              `${JSON.stringify(testCase.prediction)}: ${(error as Error).message}`,
          });
        }
        row.answered++;
        done++;
      }
    }));
  try {
    await runCases(0, Math.min(warmUp, options.cases));
    baselineKiB = await rssKiB(server.proc.child.pid);
    await runCases(Math.min(warmUp, options.cases), options.cases);
  } finally {
    clearInterval(progress);
    for (const lane of lanes) lane.close();
  }

  const lost = events.slice(eventsBefore).filter((e) => e.status !== "licensed");
  check(lost.length === 0, {
    ...ctx,
    detail: `the bystander was disturbed: ${JSON.stringify(lost.slice(0, 3))}`,
  });
  // Only the bystander's seat and connection are left (and the status query's own connection).
  await waitFor(async () => {
    const status = await server.status();
    return status.seatsUsed === 1 && status.waiting.length === 0 && status.connections === 2;
  }, { what: "the seats and connections of the fuzz lanes to be given back" }).catch(async () => {
    const status = await server.status();
    row.lost = Math.max(0, status.seatsUsed - 1);
    throw new SeededFailure({
      ...ctx,
      detail: `left over: ${status.seatsUsed} seats, ${status.waiting.length} waiting, ` +
        `${status.connections} connections`,
    });
  });
  const memory = await memoryAfter({ pid: server.proc.child.pid, baselineKiB });
  check(memory.ok, { ...ctx, detail: `license server memory did not come back: ${memory.line}` });
  row.notes.push(`server ${memory.line}; ${Math.round((Date.now() - started) / 1000)} s`);
  options.log(`[soak] ${name}: ${row.tried} cases, ${row.notes.join("; ")}`);
  return row;
}

Deno.test({
  name: "fuzz: the license server answers every mutated frame and gives every seat back",
  ...INTEGRATION,
  async fn() {
    const seed = seedFromEnv(20_241_124);
    const [row] = await run({ seed, cases: 2000, log: console.log });
    if (row.answered !== row.tried) {
      throw new SeededFailure({ seed, name: row.name, detail: "cases left unanswered" });
    }
  },
});
