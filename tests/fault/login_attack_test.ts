/**
 * Attacks on the login service that must not hurt anyone else, against the real gate and login
 * service at the DEFAULT hash cost (`owasp`):
 *
 * - the login flood: flooding connections sending logins with random names at a steady rate,
 *   while a legitimate client from another address logs in now and then; each of its logins must
 *   succeed (no `SERVER_BUSY`) and finish within 2 s (the goal is 1 s; the times are reported);
 * - the lockout attempt: an address failing on someone's username, then on many usernames, is
 *   refused; the owner, from another address, logs in at once;
 * - enumeration: an unknown username gets the same answer as a wrong password, after a hash.
 *
 * Every address is a loopback one (127.0.0.x are all local on Linux): framed TCP picks its
 * local address. `run({cases})`: the flood lasts `cases / 250` s (at least 5), with a
 * legitimate login each second; `deno task soak` runs it at scale 5,000 (20 s), with the flood
 * from one address and from four, then the lockout and enumeration cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type GateClient, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { connectClient, delay, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";
import { Rng } from "./fuzz_cases.ts";
import {
  type CaseResult,
  check,
  newResult,
  type RunOptions,
  seedFromEnv,
  withSeed,
} from "./harness.ts";

/** Flooding connections. */
const FLOODERS = 4;
/** Logins per second each flooding connection sends. */
const FLOOD_RATE = 80;
const LEGIT_ADDRESS = "127.0.0.9";

/** The median and the largest of some numbers. */
function p50max(values: number[]): { p50: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0, max: sorted.at(-1) ?? 0 };
}

function randomName(rng: Rng, length = 12): string {
  const letters = "abcdefghijklmnopqrstuvwxyz0123456789";
  let name = "f";
  for (let i = 1; i < length; i++) name += letters[Math.floor(rng.float() * letters.length)];
  return name;
}

/** The login flood with `sources` flooding addresses; resolves with its row. */
export async function loginFlood(
  options: RunOptions & { sources: 1 | 4 },
): Promise<CaseResult> {
  const row = newResult(
    `login flood at owasp cost (${options.sources === 1 ? "1 address" : "4 addresses"})`,
  );
  const ctx = { seed: options.seed, name: row.name };
  const seconds = Math.max(5, Math.round(options.cases / 250));
  const rng = new Rng(options.seed);
  const gate = await startGate();
  const login = await startLogin(gate, { flags: ["--hash-cost", "owasp"] });
  const clients: GateClient[] = [];
  try {
    const legit = await connectClient(gate.tcpUrl, { localAddress: LEGIT_ADDRESS });
    clients.push(legit);
    const username = uniqueName("legit");
    await legit.register({ username, password: TEST_PASSWORD });
    // The same login without the flood, on this machine now: the yardstick when it is loaded.
    const quiet: number[] = [];
    for (let i = 0; i < 3; i++) {
      const at = performance.now();
      await legit.login({ username, password: TEST_PASSWORD });
      quiet.push(performance.now() - at);
    }
    const flooders: GateClient[] = [];
    for (let i = 0; i < FLOODERS; i++) {
      const localAddress = options.sources === 1 ? "127.0.0.1" : `127.0.0.${2 + i}`;
      flooders.push(await connectClient(gate.tcpUrl, { localAddress }));
    }
    clients.push(...flooders);
    const states = new Map<string, number>();
    const count = (key: string) => states.set(key, (states.get(key) ?? 0) + 1);
    const floodAnswers: Promise<void>[] = [];
    let flooding = true;
    const floods = flooders.map(async (client) => {
      const started = performance.now();
      let sent = 0;
      while (flooding) {
        // Keep to the rate: send what is due, then sleep a tick.
        const due = Math.floor((performance.now() - started) * FLOOD_RATE / 1000);
        for (; sent < due && flooding; sent++) {
          row.tried++;
          row.faults++;
          floodAnswers.push(
            client.request(
              LoginCmd.LOGIN,
              { username: randomName(rng), password: randomName(rng) },
              { timeoutMs: 30_000 },
            ).then(
              (response) => {
                row.answered++;
                count(response.state === State.FAIL ? `FAIL ${response.msg}` : `${response.state}`);
              },
              (error) => {
                row.unanswered++;
                count(`error ${error.message}`);
              },
            ),
          );
        }
        await delay(10);
      }
    });
    const times: number[] = [];
    const legitStates: string[] = [];
    // The flood is established: each flooding address has its first 3 failures on record (until
    // then it is "new", and its hashes may hold both slots: a trusted login then waits for one).
    const floodAddresses = options.sources === 1
      ? ["127.0.0.1"]
      : Array.from({ length: FLOODERS }, (_, i) => `127.0.0.${2 + i}`);
    const establishedAt = performance.now();
    await waitFor(
      () =>
        floodAddresses.every((address) =>
          login.lines.some((line) =>
            line.includes(`password refused`) && line.includes(` source=${address} `) &&
            /sourceFailures=([3-9]|\d\d)/.test(line)
          )
        ),
      { what: "each flooding address to fail 3 times", timeoutMs: 60_000 },
    );
    options.log(
      `[login flood] ${row.name}: established after ${
        Math.round(performance.now() - establishedAt)
      } ms`,
    );
    for (let i = 0; i < seconds; i++) {
      const at = performance.now();
      const response = await legit.request<{ username: string }>(
        LoginCmd.LOGIN,
        { username, password: TEST_PASSWORD },
        { timeoutMs: 30_000 },
      );
      const ms = performance.now() - at;
      times.push(ms);
      row.tried++;
      row.answered++;
      legitStates.push(response.state === State.OK ? "OK" : `${response.state} ${response.msg}`);
      await delay(Math.max(0, 1000 - ms));
    }
    flooding = false;
    await Promise.all(floods);
    await Promise.all(floodAnswers);
    // The quiet yardstick again, after the flood: the machine's load drifts.
    for (let i = 0; i < 3; i++) {
      const at = performance.now();
      await legit.login({ username, password: TEST_PASSWORD });
      quiet.push(performance.now() - at);
    }
    const { p50, max } = p50max(times);
    const before = p50max(quiet);
    // The login service's own account of each legitimate login under the flood: how long it
    // waited before its hash started (turns, throttle, a hashing slot) and how long the check
    // took. Waiting is what the flood could cause; the hash's own time is the machine's.
    const served = login.lines
      .map((line) => line.match(/ logged in .*source=127\.0\.0\.9 waitedMs=(\d+) checkMs=(\d+)/))
      .filter((m) => m !== null).slice(-times.length)
      .map((m) => ({ waitedMs: Number(m![1]), checkMs: Number(m![2]) }));
    const waited = p50max(served.map((s) => s.waitedMs));
    const summary = `legitimate login under the flood: p50 ${Math.round(p50)} ms, max ${
      Math.round(max)
    } ms over ${times.length} (without the flood, before and after it: p50 ${
      Math.round(before.p50)
    } ms, max ${
      Math.round(before.max)
    } ms); in the login service: waited for the hash p50 ${waited.p50} ms, max ${waited.max} ms, check p50 ${
      p50max(served.map((s) => s.checkMs)).p50
    } ms; flood answers ${JSON.stringify(Object.fromEntries(states))}`;
    options.log(`[login flood] ${row.name}: ${summary}`);
    row.notes.push(
      `legit login p50 ${Math.round(p50)} ms, max ${Math.round(max)} ms (quiet: p50 ${
        Math.round(before.p50)
      } ms, max ${Math.round(before.max)} ms)`,
    );
    check(legitStates.every((s) => s === "OK"), {
      ...ctx,
      detail: `the legitimate logins were answered ${legitStates.join(", ")}`,
    });
    // The goal is 1 s; 2 s is the margin. On a machine so loaded that a quiet login takes over
    // 0.7 s, the limit is 3 times the slowest quiet one: the times then vary that much without
    // any flood, and the login service's own account (below) shows whether the flood made it wait.
    const limit = Math.max(2000, 3 * before.max);
    check(max < limit, {
      ...ctx,
      detail: `a legitimate login took ${Math.round(max)} ms under the flood, over ${
        Math.round(limit)
      } ms (${Math.round(before.max)} ms without it)`,
    });
    check(served.length === times.length && waited.max < 1000, {
      ...ctx,
      detail: `a legitimate login waited ${waited.max} ms for its hash to start (${
        JSON.stringify(served)
      })`,
    });
    check(row.unanswered === 0, { ...ctx, detail: `${row.unanswered} flood requests unanswered` });
  } finally {
    for (const client of clients) client.close();
    await login.stop();
    await gate.stop();
  }
  return row;
}

/** The lockout attempt: the failing address is refused, the owner from another logs in. */
export async function lockoutAttempt(options: RunOptions): Promise<CaseResult> {
  const row = newResult("lockout attempt on someone's account");
  const ctx = { seed: options.seed, name: row.name };
  const rng = new Rng(options.seed);
  const gate = await startGate();
  const login = await startLogin(gate);
  const clients: GateClient[] = [];
  const connect = async (localAddress: string) => {
    const client = await connectClient(gate.tcpUrl, { localAddress });
    clients.push(client);
    return client;
  };
  try {
    const owner = await connect("127.0.0.20");
    const attacker = await connect("127.0.0.21");
    const victim = uniqueName("victim");
    const ownAccount = uniqueName("attacker");
    await owner.register({ username: victim, password: TEST_PASSWORD });
    await (await connect("127.0.0.23")).register({ username: ownAccount, password: TEST_PASSWORD });
    // The attacker fails on the victim's username until it is locked for the attacker.
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await attacker.request(LoginCmd.LOGIN, {
        username: i % 2 ? victim.toUpperCase() : victim,
        password: randomName(rng),
      });
      row.tried++;
      row.faults++;
      row.answered++;
      answers.push(response.msg ?? "");
    }
    assert.deepEqual(answers.slice(0, 5), Array(5).fill("The username or password is wrong"));
    for (const msg of answers.slice(5)) {
      assert.match(
        msg,
        /^Too many failed logins for this account from your address: try again in \d+ s$/,
      );
    }
    const rightFromAttacker = await attacker.request(LoginCmd.LOGIN, {
      username: victim,
      password: TEST_PASSWORD,
    });
    assert.equal(rightFromAttacker.state, State.FAIL, "the attacker's address is refused");
    assert.match(rightFromAttacker.msg!, /^Too many failed logins for this account/);
    // The owner, from another address, logs in at once.
    let at = performance.now();
    assert.equal(
      (await owner.login({ username: victim, password: TEST_PASSWORD })).username,
      victim,
    );
    const ownerMs = performance.now() - at;
    check(ownerMs < 2000, { ...ctx, detail: `the owner's login took ${Math.round(ownerMs)} ms` });
    // The attacker then fails on many usernames at once: its address is locked for all of them,
    // its own account included; nobody else is.
    const many = await Promise.all(Array.from({ length: 30 }, () => connect("127.0.0.21")));
    const sprayed = await Promise.all(
      many.map((client) =>
        client.request(LoginCmd.LOGIN, { username: randomName(rng), password: randomName(rng) })
      ),
    );
    row.tried += sprayed.length;
    row.faults += sprayed.length;
    row.answered += sprayed.length;
    assert.ok(sprayed.every((r) => r.msg === "The username or password is wrong"));
    const own = await attacker.request(LoginCmd.LOGIN, {
      username: ownAccount,
      password: TEST_PASSWORD,
    });
    assert.match(own.msg ?? "", /^Too many failed logins from your address: try again in \d+ s$/);
    await owner.logout();
    at = performance.now();
    assert.equal(
      (await owner.login({ username: victim, password: TEST_PASSWORD })).username,
      victim,
    );
    const bystander = await connect("127.0.0.22");
    assert.equal(
      (await bystander.login({ username: ownAccount, password: TEST_PASSWORD })).username,
      ownAccount,
    );
    row.notes.push(`the owner logged in ${Math.round(ownerMs)} ms after the lock`);
  } finally {
    for (const client of clients) client.close();
    await login.stop();
    await gate.stop();
  }
  check(login.lines.some((l) => /attempt refused: address locked/.test(l)), {
    ...ctx,
    detail: "the login service did not log the address lock",
  });
  return row;
}

/** Unknown and known usernames: the same answer, after a hash of the same cost. */
export async function enumeration(options: RunOptions): Promise<CaseResult> {
  const row = newResult("unknown usernames vs wrong passwords");
  const ctx = { seed: options.seed, name: row.name };
  const rng = new Rng(options.seed);
  const gate = await startGate();
  const login = await startLogin(gate, { flags: ["--hash-cost", "owasp"] });
  const clients: GateClient[] = [];
  try {
    const owner = await connectClient(gate.tcpUrl, { localAddress: "127.0.0.30" });
    // Two probing addresses, each within its free failures (3): nothing is slowed or queued.
    const prober = await connectClient(gate.tcpUrl, { localAddress: "127.0.0.31" });
    const prober2 = await connectClient(gate.tcpUrl, { localAddress: "127.0.0.32" });
    clients.push(owner, prober, prober2);
    const known = uniqueName("known");
    await owner.register({ username: known, password: TEST_PASSWORD });
    const timed = async (client: GateClient, username: string) => {
      const at = performance.now();
      const response = await client.request(LoginCmd.LOGIN, {
        username,
        password: randomName(rng),
      });
      row.tried++;
      row.answered++;
      return { ms: performance.now() - at, msg: `${response.state} ${response.msg}` };
    };
    const knownTries = [];
    const unknownTries = [];
    for (let i = 0; i < 3; i++) {
      knownTries.push(await timed(prober, known));
      unknownTries.push(await timed(prober2, uniqueName("nobody")));
    }
    const messages = new Set([...knownTries, ...unknownTries].map((t) => t.msg));
    check(messages.size === 1 && messages.has(`${State.FAIL} The username or password is wrong`), {
      ...ctx,
      detail: `the answers differ: ${[...messages].join(" | ")}`,
    });
    const knownMs = p50max(knownTries.map((t) => t.ms)).p50;
    const unknownMs = p50max(unknownTries.map((t) => t.ms)).p50;
    options.log(
      `[login attack] wrong password p50 ${Math.round(knownMs)} ms, unknown username p50 ${
        Math.round(unknownMs)
      } ms`,
    );
    row.notes.push(
      `wrong password p50 ${Math.round(knownMs)} ms, unknown username p50 ${
        Math.round(unknownMs)
      } ms`,
    );
    // Both do one hash at the owasp cost (hundreds of ms); without it an unknown name would
    // answer in a few ms, a hundred times faster. The margin is wide (5 times either way): a
    // loaded machine (the test suite runs files in parallel) makes the times vary.
    check(unknownMs > knownMs / 5 && knownMs > unknownMs / 5, {
      ...ctx,
      detail: `wrong password ${Math.round(knownMs)} ms, unknown username ${
        Math.round(unknownMs)
      } ms`,
    });
  } finally {
    for (const client of clients) client.close();
    await login.stop();
    await gate.stop();
  }
  return row;
}

/** The soak's cases: the flood from one address, then from four. */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  const rows: CaseResult[] = [];
  for (const sources of [1, 4] as const) {
    const name = `login flood from ${sources} address(es)`;
    rows.push(
      await withSeed({ seed: options.seed, name }, () => loginFlood({ ...options, sources })),
    );
  }
  rows.push(await withSeed({ seed: options.seed, name: "lockout" }, () => lockoutAttempt(options)));
  rows.push(
    await withSeed({ seed: options.seed, name: "enumeration" }, () => enumeration(options)),
  );
  return rows;
}

const SEED = seedFromEnv(20_241_124);

Deno.test({
  name: "login attack: a flood of logins leaves a legitimate login from another address fast",
  ...INTEGRATION,
  fn: () =>
    withSeed(
      { seed: SEED, name: "login flood" },
      () => loginFlood({ seed: SEED, cases: 1250, log: console.log, sources: 1 }),
    ).then(() => {}),
});

Deno.test({
  name: "login attack: an address failing on an account is locked out; the owner is not",
  ...INTEGRATION,
  fn: () =>
    withSeed(
      { seed: SEED, name: "lockout" },
      () => lockoutAttempt({ seed: SEED, cases: 1, log: console.log }),
    ).then(() => {}),
});

Deno.test({
  name: "login attack: an unknown username answers like a wrong password, after a hash",
  ...INTEGRATION,
  fn: () =>
    withSeed(
      { seed: SEED, name: "enumeration" },
      () => enumeration({ seed: SEED, cases: 1, log: console.log }),
    ).then(() => {}),
});
