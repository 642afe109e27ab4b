/**
 * Processes that die under load, against the real suite:
 * - the login service killed with SIGKILL during concurrent sign-ups: every request answered,
 *   every account answered OK present after the restart;
 * - one of two echo instances killed during load: nothing left unanswered, the traffic moves to
 *   the other;
 * - the gate killed and restarted: every client back and logged in by its token within 5 s;
 * - the license server killed and restarted: the clients take their seats back, never more seats
 *   than the license allows.
 *
 * `run({cases})`: `cases` sign-ups (at least 1,000), twice as many echo requests, `cases / 20`
 * clients across the gate restart (20 to 200).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import {
  type GateClient,
  LicenseClient,
  type LicenseStatusEvent,
  State,
} from "../../client/mod.ts";
import { LoginCmd, type ResponseEnvelope } from "../../shared/mod.ts";
import { startLogin, TEST_PASSWORD } from "../helpers/login.ts";
import {
  connectClient,
  delay,
  freePorts,
  INTEGRATION,
  startEcho,
  startGate,
  waitFor,
} from "../helpers/suite.ts";
import { makeLicenseDir, startLicenseServer } from "../license/license_fixtures.ts";
import { Rng } from "./fuzz_cases.ts";
import {
  type CaseResult,
  check,
  newResult,
  type RunOptions,
  seedFromEnv,
  withSeed,
} from "./harness.ts";

/** How long the clients have to be back and logged in after the gate restarts. */
export const RELOGIN_WITHIN_MS = 5000;

function answeredOrError<T>(
  request: Promise<ResponseEnvelope<T>>,
): Promise<ResponseEnvelope<T> | Error> {
  return request.catch((error: Error) => error);
}

/** SIGKILL of the login service during concurrent sign-ups. */
export async function loginKilledDuringSignUps(options: RunOptions): Promise<CaseResult> {
  const row = newResult("login SIGKILL during sign-ups");
  /** Sign-ups sent at once: what the hasher's queue takes, so that none is refused as busy. */
  const AT_ONCE = 1000;
  const rounds = Math.max(1, Math.floor(options.cases / AT_ONCE));
  const rng = new Rng(options.seed);
  const gate = await startGate({ flags: ["--rate", "100000", "--burst", "100000"] });
  let login = await startLogin(gate);
  const clients: GateClient[] = [];
  const ctx = { seed: options.seed, name: row.name };
  try {
    for (let i = 0; i < 20; i++) {
      clients.push(await connectClient(i % 2 ? gate.tcpUrl : gate.wsUrl));
    }
    const ok: string[] = [];
    const states = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      const run = crypto.randomUUID().replace(/-/g, "").slice(0, 5);
      const names = Array.from({ length: AT_ONCE }, (_, i) => `k${run}n${i}`);
      const okBefore = ok.length;
      let unanswered = 0;
      // The kill comes once between a quarter and two thirds of them are committed.
      const killAt = okBefore + Math.floor(AT_ONCE * (0.25 + rng.float() * 0.4));
      const all = names.map(async (username, i) => {
        const response = await answeredOrError(
          clients[i % clients.length].request(
            LoginCmd.REGISTER,
            { username, password: TEST_PASSWORD },
            { timeoutMs: 30_000 },
          ),
        );
        if (response instanceof Error) {
          unanswered++;
          states.set(response.name, (states.get(response.name) ?? 0) + 1);
          return;
        }
        states.set(`${response.state}`, (states.get(`${response.state}`) ?? 0) + 1);
        if (response.state === State.OK) ok.push(username);
      });
      await waitFor(() => ok.length >= killAt, {
        what: `${killAt - okBefore} sign-ups answered OK`,
        timeoutMs: 60_000,
      });
      login.kill("SIGKILL");
      row.faults++;
      await Promise.all(all);
      await login.status;
      row.tried += AT_ONCE;
      row.unanswered += unanswered;
      row.answered += AT_ONCE - unanswered;
      check(unanswered === 0, {
        ...ctx,
        detail: `round ${round}: ${unanswered} sign-ups got no answer: ${
          JSON.stringify(Object.fromEntries(states))
        }`,
      });
      const unexpected = [...states.keys()].filter((s) =>
        s !== `${State.OK}` && s !== `${State.SERVER_OFF}`
      );
      check(unexpected.length === 0, {
        ...ctx,
        detail: `answers other than OK and SERVER_OFF: ${
          JSON.stringify(Object.fromEntries(states))
        }`,
      });
      check(ok.length - okBefore < AT_ONCE, {
        ...ctx,
        detail: `round ${round}: the kill came after every sign-up`,
      });
      login = await startLogin(gate);
    }

    // Every account answered OK is on disk, with its password.
    const db = new DatabaseSync(`${gate.dataDir}/login.sqlite`, { readOnly: true });
    let present: Set<string>;
    try {
      present = new Set(
        (db.prepare("SELECT username FROM accounts").all() as { username: string }[]).map((r) =>
          r.username
        ),
      );
    } finally {
      db.close();
    }
    const missing = ok.filter((username) => !present.has(username));
    row.lost = missing.length;
    check(missing.length === 0, {
      ...ctx,
      detail: `${missing.length} accounts answered OK are gone: ${missing.slice(0, 5).join(", ")}`,
    });
    const sample = ok.filter((_, i) => i % Math.ceil(ok.length / 25) === 0);
    const failed: string[] = [];
    await Promise.all(sample.map(async (username, i) => {
      const response = await clients[i % clients.length].request(LoginCmd.LOGIN, {
        username,
        password: TEST_PASSWORD,
      });
      if (response.state !== State.OK) failed.push(`${username}: ${response.msg}`);
    }));
    check(failed.length === 0, {
      ...ctx,
      detail: `logins after restart failed: ${failed.join("; ")}`,
    });
    row.notes.push(
      `${rounds} × ${AT_ONCE} at once: ${ok.length} OK before the kills, ` +
        `${states.get(`${State.SERVER_OFF}`) ?? 0} SERVER_OFF, ${present.size} accounts on disk`,
    );
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    for (const client of clients) client.close();
    await login.stop();
    await gate.stop();
  }
}

interface EchoAnswer {
  instance: string;
}

/** One of two echo instances killed during load. */
export async function echoKilledDuringLoad(options: RunOptions): Promise<CaseResult> {
  const row = newResult("echo instance SIGKILL during load");
  const total = Math.max(2000, options.cases * 2);
  const rng = new Rng(options.seed + 1);
  const gate = await startGate({ flags: ["--rate", "100000", "--burst", "100000"] });
  const a = await startEcho(gate, { name: "echo-a" });
  const b = await startEcho(gate, { name: "echo-b", url: gate.tcpUrl });
  const clients: GateClient[] = [];
  try {
    for (let i = 0; i < 8; i++) clients.push(await connectClient(i % 2 ? gate.tcpUrl : gate.wsUrl));
    const killAt = Math.floor(total * (0.3 + rng.float() * 0.3));
    let sent = 0;
    let failoverFrom = Infinity;
    let killed = false;
    const byInstance = new Map<string, number>();
    const states = new Map<string, number>();
    const afterFailover: string[] = [];
    let unanswered = 0;
    const worker = async (client: GateClient) => {
      while (sent < total) {
        const index = sent++;
        if (index === killAt) {
          killed = true;
          a.kill("SIGKILL");
          row.faults++;
          // Requests sent once the gate has seen the link go must all reach echo-b.
          gate.waitForLine(/service left .*name=echo-a/, { timeoutMs: 10_000 }).then(
            () => failoverFrom = sent,
            () => {},
          );
        }
        const sleep = rng.chance(0.3);
        const response = await answeredOrError(
          client.request<EchoAnswer>(
            sleep ? "echo_sleep" : "echo",
            sleep ? { ms: rng.int(10) } : { index },
            { timeoutMs: 15_000 },
          ),
        );
        if (response instanceof Error) {
          unanswered++;
          continue;
        }
        states.set(`${response.state}`, (states.get(`${response.state}`) ?? 0) + 1);
        const instance = (response.data as EchoAnswer)?.instance;
        if (response.state === State.OK) {
          byInstance.set(instance, (byInstance.get(instance) ?? 0) + 1);
        }
        if (index >= failoverFrom && (response.state !== State.OK || instance !== "echo-b")) {
          afterFailover.push(`#${index}: state ${response.state} from ${instance}`);
        }
      }
    };
    await Promise.all(clients.map(worker));
    await a.status;
    row.tried = total;
    row.answered = total - unanswered;
    row.unanswered = unanswered;
    row.lost = afterFailover.length;
    const ctx = { seed: options.seed, name: row.name };
    check(killed && failoverFrom < total, {
      ...ctx,
      detail: "the failover was not seen under load",
    });
    check(unanswered === 0, { ...ctx, detail: `${unanswered} requests got no answer` });
    const unexpected = [...states.keys()].filter((s) =>
      s !== `${State.OK}` && s !== `${State.SERVER_OFF}`
    );
    check(unexpected.length === 0, {
      ...ctx,
      detail: `answers other than OK and SERVER_OFF: ${JSON.stringify(Object.fromEntries(states))}`,
    });
    check(afterFailover.length === 0, {
      ...ctx,
      detail: `after the failover: ${afterFailover.slice(0, 5).join("; ")}`,
    });
    check((byInstance.get("echo-a") ?? 0) > 0 && (byInstance.get("echo-b") ?? 0) > 0, {
      ...ctx,
      detail: `both instances served before the kill: ${
        JSON.stringify(Object.fromEntries(byInstance))
      }`,
    });
    row.notes.push(
      `kill at #${killAt}, failover from #${failoverFrom}; ${
        JSON.stringify(Object.fromEntries(byInstance))
      }` +
        `, SERVER_OFF ${states.get(`${State.SERVER_OFF}`) ?? 0}`,
    );
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    for (const client of clients) client.close();
    await b.stop();
    await gate.stop();
  }
}

/** The gate killed and restarted: every client back and logged in by token within 5 s. */
export async function gateRestarted(options: RunOptions): Promise<CaseResult> {
  const row = newResult("gate SIGKILL and restart");
  const count = Math.min(200, Math.max(20, Math.floor(options.cases / 20)));
  const [port, tcpPort] = freePorts(2);
  let gate = await startGate({ port, tcpPort });
  const dataDir = gate.dataDir;
  const login = await startLogin(gate);
  const echo = await startEcho(gate);
  const clients: GateClient[] = [];
  try {
    // Clients as an application makes them: reconnect with the default backoff.
    const users = await Promise.all(Array.from({ length: count }, async (_, i) => {
      const client = await connectClient(i % 2 ? gate.tcpUrl : gate.wsUrl, { reconnect: true });
      clients.push(client);
      const username = `g${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
      await client.register({ username, password: TEST_PASSWORD }, { timeoutMs: 30_000 });
      const { userId, token } = await client.login(
        { username, password: TEST_PASSWORD },
        { timeoutMs: 30_000 },
      );
      return { client, userId, token };
    }));
    const rounds = Math.max(1, Math.min(5, Math.floor(options.cases / 1000)));
    const ctx = { seed: options.seed, name: row.name };
    let slowest = 0;
    for (let round = 0; round < rounds; round++) {
      gate.kill("SIGKILL");
      row.faults++;
      await gate.status;
      await waitFor(() => clients.every((client) => !client.loggedIn), {
        what: "the clients to see the gate go",
      });
      const restartedAt = Date.now();
      gate = await startGate({ port, tcpPort, dataDir });
      const backAt = new Map<GateClient, number>();
      await waitFor(() => {
        for (const { client } of users) {
          if (client.loggedIn && !backAt.has(client)) backAt.set(client, Date.now() - restartedAt);
        }
        return backAt.size === users.length;
      }, { what: "every client logged in again", timeoutMs: 30_000 }).catch(() => {});
      const late = users.filter(({ client }) =>
        (backAt.get(client) ?? Infinity) > RELOGIN_WITHIN_MS
      );
      // The echo service links to the new gate on its own schedule: the bindings are read
      // through it once it is back.
      await waitFor(async () => {
        const probe = await answeredOrError(users[0].client.request("echo", {}));
        return !(probe instanceof Error) && probe.state === State.OK;
      }, { what: "the echo service linked to the restarted gate", timeoutMs: 30_000 });
      const wrong: string[] = [];
      await Promise.all(users.map(async ({ client, userId, token }) => {
        const seen = await answeredOrError(client.request<{ userId: number }>("echo", {}));
        if (seen instanceof Error || seen.state !== State.OK || seen.data.userId !== userId) {
          wrong.push(
            `user ${userId}: ${
              seen instanceof Error
                ? seen.message
                : `state ${seen.state} ${seen.msg ?? ""} ${JSON.stringify(seen.data)}`
            }`,
          );
        } else if (client.token !== token) wrong.push(`user ${userId}: the token changed`);
      }));
      const last = Math.max(...backAt.values());
      slowest = Math.max(slowest, last);
      row.tried += count;
      row.answered += count - late.length;
      row.unanswered += late.length;
      row.lost += wrong.length;
      check(late.length === 0, {
        ...ctx,
        detail: `restart ${round}: ${late.length} of ${count} clients not logged in again ` +
          `within ${RELOGIN_WITHIN_MS} ms of the restart (slowest ${last} ms)`,
      });
      check(wrong.length === 0, {
        ...ctx,
        detail: `restart ${round}: bindings wrong: ${wrong.slice(0, 5).join("; ")}`,
      });
    }
    row.notes.push(
      `${rounds} restarts, ${count} clients back and logged in each time, the last ${slowest} ms ` +
        "after its restart",
    );
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    for (const client of clients) client.close();
    await echo.stop();
    await login.stop();
    await gate.stop();
  }
}

/** The license server killed and restarted: seats taken back, never more than the license. */
export async function licenseServerRestarted(options: RunOptions): Promise<CaseResult> {
  const row = newResult("license server SIGKILL and restart");
  const SEATS = 3;
  const dataDir = await makeLicenseDir({ seats: SEATS });
  const [port] = freePorts(1);
  const start = () =>
    startLicenseServer({ dataDir, heartbeatMs: 300, args: ["--port", String(port)] });
  let server = await start();
  const holders: LicenseClient[] = [];
  const others: LicenseClient[] = [];
  const events = new Map<LicenseClient, LicenseStatusEvent[]>();
  const newClient = (list: LicenseClient[]) => {
    const client = new LicenseClient();
    events.set(client, []);
    list.push(client);
    return client;
  };
  const config = (user: string, wait = false) => ({
    port,
    user,
    hostName: "lab",
    wait,
    reconnect: true,
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
  });
  let maxSeats = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      try {
        const status = await server.status();
        maxSeats = Math.max(maxSeats, status.seatsUsed);
      } catch { /* restarting */ }
      await delay(20);
    }
  })();
  try {
    for (let i = 0; i < SEATS; i++) {
      const client = newClient(holders);
      await client.start(config(`holder${i}`), undefined, (e) => events.get(client)!.push(e));
      const rsp = await client.sendLoginReq();
      if (rsp.state !== State.OK) throw new Error(`holder ${i} got no seat: ${rsp.msg}`);
    }
    // One more asks and is refused; it gives up (no wait) and must not come back with a seat.
    const refused = newClient(others);
    await refused.start(config("refused"), undefined, (e) => events.get(refused)!.push(e));
    const refusal = await refused.sendLoginReq();
    const ctx = { seed: options.seed, name: row.name };
    check(refusal.state !== State.OK, { ...ctx, detail: "a fourth seat was granted" });

    const rounds = Math.max(1, Math.min(5, Math.floor(options.cases / 1000)));
    for (let round = 0; round < rounds; round++) {
      const marks = holders.map((h) => events.get(h)!.length);
      server.proc.kill("SIGKILL");
      row.faults++;
      await server.proc.status;
      server = await start();
      await waitFor(
        () =>
          holders.every((h, i) =>
            events.get(h)!.slice(marks[i]).some((e) => e.status === "licensed")
          ),
        { what: "every holder licensed again", timeoutMs: 15_000 },
      ).catch(() => {});
      const status = await server.status();
      const back = holders.filter((h) => status.holders.some((s) => s.instanceId === h.instanceId));
      row.tried += holders.length;
      row.answered += back.length;
      row.unanswered += holders.length - back.length;
      check(back.length === SEATS, {
        ...ctx,
        detail: `round ${round}: ${back.length} of ${SEATS} holders have their seat back`,
      });
      check(!status.holders.some((s) => s.instanceId === refused.instanceId), {
        ...ctx,
        detail: "the refused client came back with a seat",
      });
    }
    // A client that waits for a seat competes with the holders as they come back.
    const waiter = newClient(others);
    await waiter.start(config("waiter", true), undefined, (e) => events.get(waiter)!.push(e));
    void waiter.sendLoginReq({ wait: true }).catch(() => {});
    await waitFor(async () => (await server.status()).waiting.length === 1, {
      what: "the waiter queued",
    });
    server.proc.kill("SIGKILL");
    row.faults++;
    await server.proc.status;
    server = await start();
    await waitFor(async () => {
      const status = await server.status();
      return status.seatsUsed === SEATS && status.waiting.length === 1;
    }, { what: "every seat held and one waiting again", timeoutMs: 15_000 }).catch(
      async (error) => {
        const status = await server.status(20);
        throw new Error(
          `${error.message}: ${
            JSON.stringify({
              holders: status.holders,
              waiting: status.waiting,
              audit: status.audit,
              events: [...events.values()].map((e) => e.map((x) => x.status).join(",")),
            })
          }`,
        );
      },
    );
    const after = await server.status();
    const holdersBack = holders.every((h) =>
      after.holders.some((s) => s.instanceId === h.instanceId)
    );
    row.tried++;
    if (holdersBack) row.answered++;
    else row.unanswered++;
    check(holdersBack && after.waiting[0]?.instanceId === waiter.instanceId, {
      ...ctx,
      detail: `the holders did not take their seats back before the waiter: ${
        JSON.stringify({
          holders: after.holders.map((s) => s.user),
          waiting: after.waiting.map((s) => s.user),
        })
      }`,
    });
    watching = false;
    await watcher;
    check(maxSeats <= SEATS, { ...ctx, detail: `${maxSeats} seats were held at once` });
    const stillHeld = (await server.status()).seatsUsed;
    for (const client of [...holders, ...others]) await client.stop();
    await waitFor(async () => (await server.status()).seatsUsed === 0, {
      what: "every seat given back when the clients stop",
    }).catch(() => {
      row.lost++;
      throw new Error("seats were left held after every client stopped");
    });
    row.notes.push(
      `${rounds + 1} restarts; at most ${maxSeats} of ${SEATS} seats held; ${stillHeld} held ` +
        "with a waiter competing",
    );
    options.log(`[soak] ${row.name}: ${row.notes.at(-1)}`);
    return row;
  } finally {
    watching = false;
    await watcher;
    for (const client of [...holders, ...others]) await client.stop().catch(() => {});
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Every scenario, one after another. */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  const rows: CaseResult[] = [];
  for (
    const scenario of [
      loginKilledDuringSignUps,
      echoKilledDuringLoad,
      gateRestarted,
      licenseServerRestarted,
    ]
  ) {
    rows.push(await withSeed({ seed: options.seed, name: scenario.name }, () => scenario(options)));
  }
  return rows;
}

const SEED = seedFromEnv(20_241_124);
const short: RunOptions = { seed: SEED, cases: 1000, log: console.log };

Deno.test({
  name: "faults: the login service killed during 1,000 concurrent sign-ups loses no account",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "login" }, () => loginKilledDuringSignUps(short)).then(() => {}),
});

Deno.test({
  name: "faults: an echo instance killed during load leaves nothing unanswered",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "echo" }, () => echoKilledDuringLoad(short)).then(() => {}),
});

Deno.test({
  name: "faults: after a gate restart every client is back and logged in within 5 s",
  ...INTEGRATION,
  fn: () => withSeed({ seed: SEED, name: "gate" }, () => gateRestarted(short)).then(() => {}),
});

Deno.test({
  name: "faults: after a license server restart the holders take their seats back, never more",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "license" }, () => licenseServerRestarted(short)).then(() => {}),
});
