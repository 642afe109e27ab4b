/**
 * Letting no one in where they do not belong, against the real suite (gate, login, group, echo,
 * license server):
 * - forged `clientId`, `userId` and `is_ss_link`, in requests to every service, and forged
 *   responses;
 * - clients calling every `ss_` command (the gate's and a service's own): refused, no effect;
 * - wrong service keys: refused, each answer later than the last after repeated failures;
 * - SQL metacharacters and overlong strings in every string field of login, group, the license
 *   `LoginReq` and `ss_reg_api`: refused or stored as plain data, databases intact;
 * - path traversal against the static files (`..`, encoded, doubled, overlong UTF-8, symlinks);
 * - guessed group keys and guessed tokens; a token used after logout, password change, a newer
 *   login and account deletion.
 *
 * `run({cases})`: `cases / 4` guesses of group keys and of tokens (at least 200 each).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { type GateClient, ServiceClient } from "../../client/mod.ts";
import { GateCmd, GroupCmd, LoginCmd, State } from "../../shared/mod.ts";
import { startGroup } from "../helpers/group.ts";
import { loggedInClient, startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import type { RunningProcess } from "../helpers/process.ts";
import { openRaw, rawExchange } from "../helpers/raw.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startEcho,
  startGate,
  TRANSPORTS,
  waitFor,
} from "../helpers/suite.ts";
import { makeLicenseDir, RawConn, startLicenseServer } from "../license/license_fixtures.ts";
import { NASTY_STRINGS, Rng } from "./fuzz_cases.ts";
import {
  type CaseResult,
  newResult,
  type RunOptions,
  SeededFailure,
  seedFromEnv,
  withSeed,
} from "./harness.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Counts each expectation into a row, and fails with the seed on the first one that is wrong. */
class Expect {
  readonly row: CaseResult;
  #seed: number;
  constructor(name: string, seed: number) {
    this.row = newResult(name);
    this.#seed = seed;
  }

  /** One attempt that must be turned away (or handled as plain data): `ok` says it was. */
  that(ok: boolean, detail: () => string): void {
    this.row.tried++;
    this.row.faults++;
    if (ok) {
      this.row.answered++;
      return;
    }
    this.row.lost++;
    throw new SeededFailure({ seed: this.#seed, name: this.row.name, detail: detail() });
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** SQL metacharacters, escapes and overlong strings: what every string field is tried with. */
export const HOSTILE_STRINGS: readonly string[] = [
  ...NASTY_STRINGS,
  "' UNION SELECT password_hash FROM accounts --",
  "a'); INSERT INTO accounts VALUES (1,'x','y',0,0); --",
  "abc123' OR 'x'='x",
  "x".repeat(17),
  "a1".repeat(100),
  "é".repeat(129),
  "z".repeat(1025),
  "y".repeat(100_000),
];

interface Stage {
  gate: GateProcess;
  services: RunningProcess[];
  webDir: string;
  secret: string;
  clients: GateClient[];
}

async function stage(): Promise<Stage> {
  // A web folder of its own, with a secret beside it and symlinks pointing out of it.
  const root = await Deno.makeTempDir({ prefix: "gatehouse_web_" });
  const webDir = `${root}/web`;
  await Deno.mkdir(webDir);
  const secret = `TOP-SECRET-${crypto.randomUUID()}`;
  await Deno.writeTextFile(`${root}/secret.txt`, secret);
  await Deno.writeTextFile(`${webDir}/index.html`, "<!doctype html><title>Gatehouse</title>");
  await Deno.mkdir(`${webDir}/sub`);
  await Deno.writeTextFile(`${webDir}/sub/app.js`, "console.log(1)");
  await Deno.symlink(`${root}/secret.txt`, `${webDir}/link.txt`);
  await Deno.symlink(root, `${webDir}/up`);
  const gate = await startGate({
    flags: ["--web-dir", webDir, "--rate", "100000", "--burst", "100000"],
  });
  const services = await Promise.all([startLogin(gate), startGroup(gate), startEcho(gate)]);
  return { gate, services, webDir, secret, clients: [] };
}

async function unstage(s: Stage): Promise<void> {
  for (const client of s.clients) client.close();
  await Promise.all(s.services.map((p) => p.stop()));
  await s.gate.stop();
  await Deno.remove(s.webDir.replace(/\/web$/, ""), { recursive: true });
}

async function user(s: Stage, url: string, prefix: string) {
  const result = await loggedInClient(url, prefix);
  s.clients.push(result.client);
  return result;
}

/** Forged sender fields and forged responses. */
export async function forgedFields(s: Stage, options: RunOptions): Promise<CaseResult> {
  const expect = new Expect("forged clientId, userId, is_ss_link", options.seed);
  const victim = await user(s, s.gate.wsUrl, "victim");
  const victimSeen = await victim.client.request<Json>("echo", {});
  for (const transport of TRANSPORTS) {
    const url = s.gate.url(transport);
    // To echo: the service sees who really sent it.
    const [text] = await rawExchange({
      url,
      send: [JSON.stringify({
        cmd: "echo",
        is_req: true,
        msgId: 9,
        data: {},
        clientId: victimSeen.data.clientId,
        clientAddr: "203.0.113.66",
        userId: victim.userId,
        is_ss_link: true,
      })],
      expect: 1,
    });
    const echoed = JSON.parse(text);
    expect.that(
      echoed.state === State.OK && echoed.data.clientId !== victimSeen.data.clientId &&
        echoed.data.clientAddr === "127.0.0.1" && echoed.data.userId === 0 &&
        echoed.data.isServiceLink === false && !("clientId" in echoed),
      () => `${transport}: forged sender fields reached echo: ${text}`,
    );
    // To the group service: a forged service link or user is not logged in.
    for (const cmd of [GroupCmd.CREATE, GroupCmd.LIST]) {
      const [created] = await rawExchange({
        url,
        send: [JSON.stringify({
          cmd,
          is_req: true,
          msgId: 3,
          data: {},
          is_ss_link: true,
          userId: victim.userId,
          clientId: victimSeen.data.clientId,
        })],
        expect: 1,
      });
      expect.that(
        JSON.parse(created).state === State.NOT_LOGGED_IN,
        () => `${transport}: ${cmd} with forged fields: ${created}`,
      );
    }
    // To the login service: a logout or password change in someone else's name acts on the
    // sender only.
    const attacker = await user(s, url, "attacker");
    const change = await attacker.client.request(LoginCmd.CHANGE_PW, {
      password: TEST_PASSWORD,
      newPassword: "changed123",
      userId: victim.userId,
    });
    expect.that(
      change.state === State.OK,
      () => `${transport}: own password change: ${change.msg}`,
    );
    const check = await connectClient(url);
    s.clients.push(check);
    const victimLogin = await check.request(LoginCmd.LOGIN, {
      username: victim.username,
      password: TEST_PASSWORD,
    });
    expect.that(
      victimLogin.state === State.OK,
      () => `${transport}: the victim's password changed: ${victimLogin.msg}`,
    );
    // That login moved the victim's session to `check`: take it back on the victim's client.
    await victim.client.login({ username: victim.username, password: TEST_PASSWORD });
    const forgedLogout = await rawExchange({
      url,
      send: [JSON.stringify({
        cmd: LoginCmd.LOGOUT,
        is_req: true,
        msgId: 4,
        data: { userId: victim.userId },
        userId: victim.userId,
        clientId: victimSeen.data.clientId,
      })],
      expect: 1,
    });
    expect.that(
      JSON.parse(forgedLogout[0]).state === State.NOT_LOGGED_IN,
      () => `${transport}: a logout for someone else: ${forgedLogout[0]}`,
    );
    const stillIn = await victim.client.request(GroupCmd.LIST, {});
    expect.that(stillIn.state === State.OK, () => `${transport}: the victim was logged out`);
  }
  // A forged response: a client cannot answer someone else's pending request.
  for (const transport of TRANSPORTS) {
    // Pending long enough for the forged answers below to arrive first, even on a loaded machine.
    const waiting = victim.client.request<Json>("echo_sleep", { ms: 2000 });
    await delay(50);
    const raw = await openRaw(s.gate.url(transport));
    try {
      for (let msgId = 1; msgId < 50; msgId++) {
        raw.send(JSON.stringify({
          cmd: "echo_sleep",
          is_resp: true,
          msgId,
          state: State.OK,
          data: { instance: "forged" },
          clientId: victimSeen.data.clientId,
        }));
      }
      const refusal = await raw.next();
      expect.that(
        refusal.kind === "text" && /Only service links may send responses/.test(refusal.text),
        () => `${transport}: a forged response was not refused: ${JSON.stringify(refusal)}`,
      );
    } finally {
      raw.close();
    }
    const real = await waiting;
    expect.that(
      real.state === State.OK && real.data.instance !== "forged",
      () => `${transport}: the victim got a forged answer: ${JSON.stringify(real)}`,
    );
  }
  return expect.row;
}

/** Clients calling `ss_` commands. */
export async function serviceCommands(s: Stage, options: RunOptions): Promise<CaseResult> {
  const expect = new Expect("clients calling ss_ commands", options.seed);
  // A service of our own registers an ss_ command too: clients still may not call it.
  const sskey = (await Deno.readTextFile(`${s.gate.dataDir}/sskey`)).trim();
  const service = new ServiceClient({ url: s.gate.wsUrl, sskey, name: "ss-owner" });
  let called = 0;
  service.handle("ss_custom", () => ({ called: ++called }));
  await service.start();
  try {
    const victim = await connectClient(s.gate.wsUrl);
    s.clients.push(victim);
    const victimId = (await victim.request<Json>("echo", {})).data.clientId as number;
    const pushes: unknown[] = [];
    victim.on("sc_msg_owned", (data) => pushes.push(data));
    victim.on(GateCmd.KICKED, (data) => pushes.push(data));
    for (const transport of TRANSPORTS) {
      const attacker = await connectClient(s.gate.url(transport));
      s.clients.push(attacker);
      const calls: Array<[string, unknown]> = [
        [GateCmd.USER_LOGIN, { clientId: victimId, userId: 1, token: "x" }],
        [GateCmd.USER_LOGIN, { clientId: 0, userId: 1 }],
        [GateCmd.USER_LOGOUT, { clientId: victimId, userId: 0 }],
        [GateCmd.PUSH, { clientIds: [victimId], cmd: "sc_msg_owned", data: {} }],
        [GateCmd.KICK, { clientId: victimId, reason: "owned" }],
        [GateCmd.CLIENT_LEAVE, { clientId: victimId, userId: 0 }],
        ["ss_custom", {}],
        ["ss_", {}],
        ["ss_anything", {}],
      ];
      for (const [cmd, data] of calls) {
        const response = await attacker.request(cmd, data);
        expect.that(
          response.state === State.UNDEFINED_CMD,
          () => `${transport}: a client called ${cmd}: state ${response.state} ${response.msg}`,
        );
      }
      const self = await attacker.request<Json>("echo", {});
      expect.that(self.data.userId === 0, () => `${transport}: the attacker bound a user`);
    }
    await delay(500); // a forged push would arrive in this time
    expect.that(pushes.length === 0, () => `the victim got pushes: ${JSON.stringify(pushes)}`);
    expect.that(victim.state === "connected", () => "the victim was kicked");
    expect.that(called === 0, () => "ss_custom ran for a client");
  } finally {
    service.stop();
  }
  return expect.row;
}

/** Wrong service keys: refused, and slowed down after repeated failures. */
export async function wrongServiceKeys(s: Stage, options: RunOptions): Promise<CaseResult> {
  const expect = new Expect("wrong service keys", options.seed);
  const rng = new Rng(options.seed + 3);
  const latencies: number[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const raw = await openRaw(attempt % 2 ? s.gate.tcpUrl : s.gate.wsUrl);
    try {
      const started = performance.now();
      raw.send(JSON.stringify({
        cmd: GateCmd.REG_API,
        is_req: true,
        msgId: 1,
        data: {
          type: "x",
          name: "intruder",
          sskey: rng.text(64, "0123456789abcdef"),
          apis: ["echo"],
        },
      }));
      const answer = await raw.next(15_000);
      latencies.push(performance.now() - started);
      expect.that(
        answer.kind === "text" && JSON.parse(answer.text).state === State.FORBIDDEN,
        () => `attempt ${attempt}: a wrong key was not refused: ${JSON.stringify(answer)}`,
      );
    } finally {
      raw.close();
    }
  }
  // The first two cost nothing, then 250 ms, 500 ms, 1 s…: the fifth comes well after the first.
  expect.that(
    latencies[4] >= latencies[0] + 500,
    () => `wrong keys were not slowed down: ${latencies.map((ms) => Math.round(ms)).join(", ")} ms`,
  );
  for (
    const [data, what] of [
      [{ type: "x", name: "n", sskey: "k".repeat(2000), apis: [] }, "an overlong key"],
      [{ type: "x", name: "n", sskey: 42, apis: [] }, "a key that is not a string"],
      [{ type: "x".repeat(65), name: "n", sskey: "k", apis: [] }, "an overlong type"],
      [{ type: "x", name: "' OR 1=1 --".repeat(10), sskey: "k", apis: [] }, "an overlong name"],
      [{ type: "x", name: "n", sskey: "k", apis: ["x".repeat(65)] }, "an overlong api"],
      [{ type: "x", name: "n", sskey: "k", apis: ["echo; DROP"] }, "an api that is not a name"],
    ] as const
  ) {
    const [text] = await rawExchange({
      url: s.gate.wsUrl,
      send: [JSON.stringify({ cmd: GateCmd.REG_API, is_req: true, msgId: 2, data })],
      expect: 1,
    });
    expect.that(
      JSON.parse(text).state === State.BAD_REQUEST,
      () => `ss_reg_api with ${what}: ${text}`,
    );
  }
  // Nothing was registered by them, and the right key still works at once.
  const client = await connectClient(s.gate.wsUrl);
  s.clients.push(client);
  const echo = await client.request<Json>("echo", {});
  expect.that(
    echo.state === State.OK && echo.data.instance !== "intruder",
    () => "an intruder serves echo",
  );
  const sskey = (await Deno.readTextFile(`${s.gate.dataDir}/sskey`)).trim();
  const service = new ServiceClient({ url: s.gate.tcpUrl, sskey, name: "legit" });
  service.handle("legit_cmd", () => ({}));
  await service.start();
  expect.that(service.registered, () => "the right key was refused after the wrong ones");
  service.stop();
  expect.row.notes.push(
    `answers to 5 wrong keys after ${latencies.map((ms) => Math.round(ms)).join(", ")} ms`,
  );
  return expect.row;
}

/** SQL metacharacters and overlong strings in every string field. */
export async function hostileStrings(s: Stage, options: RunOptions): Promise<CaseResult> {
  const expect = new Expect("SQL and overlong strings in every field", options.seed);
  const url = s.gate.wsUrl;
  const anon = await connectClient(url);
  s.clients.push(anon);
  const me = await user(s, url, "sqlme");
  const other = await user(s, s.gate.tcpUrl, "sqlother");
  const db = () => new DatabaseSync(`${s.gate.dataDir}/login.sqlite`, { readOnly: true });
  const countAccounts = () => {
    const handle = db();
    try {
      return (handle.prepare("SELECT count(*) AS n FROM accounts").get() as { n: number }).n;
    } finally {
      handle.close();
    }
  };
  const accountsBefore = countAccounts();
  const valid = { username: uniqueName("sqlv"), password: TEST_PASSWORD };
  // Every string field of the login commands: each hostile value is refused as BAD_REQUEST.
  const loginFields: Array<{ client: GateClient; cmd: string; base: Json; fields: string[] }> = [
    { client: anon, cmd: LoginCmd.REGISTER, base: valid, fields: ["username", "password"] },
    { client: anon, cmd: LoginCmd.LOGIN, base: valid, fields: ["username", "password"] },
    {
      client: anon,
      cmd: LoginCmd.LOGIN_BY_TOKEN,
      base: { token: "A".repeat(43) },
      fields: ["token"],
    },
    {
      client: me.client,
      cmd: LoginCmd.CHANGE_PW,
      base: { password: TEST_PASSWORD, newPassword: "other1234" },
      fields: ["password", "newPassword"],
    },
    {
      client: me.client,
      cmd: LoginCmd.DELETE_ACCOUNT,
      base: { password: TEST_PASSWORD },
      fields: ["password"],
    },
  ];
  let created = 0;
  for (const { client, cmd, base, fields } of loginFields) {
    for (const field of fields) {
      for (const value of HOSTILE_STRINGS) {
        // A value that happens to fit the field ("constructor", "null") is plain data; it is not
        // tried where it would really change the password or delete the account.
        const fits = field === "token"
          ? /^[A-Za-z0-9_-]{43}$/.test(value)
          : /^[0-9a-zA-Z]{6,16}$/.test(value);
        if (fits && (cmd === LoginCmd.CHANGE_PW || cmd === LoginCmd.DELETE_ACCOUNT)) continue;
        const response = await client.request(cmd, { ...base, [field]: value });
        if (cmd === LoginCmd.REGISTER && response.state === State.OK) created++;
        expect.that(
          fits
            ? response.state === State.OK || response.state === State.FAIL
            : response.state === State.BAD_REQUEST,
          () =>
            `${cmd} ${field}=${
              JSON.stringify(value.slice(0, 40))
            }: state ${response.state} ${response.msg}`,
        );
      }
    }
  }
  expect.that(
    countAccounts() === accountsBefore + created,
    () => `hostile sign-ups: ${countAccounts() - accountsBefore} accounts, ${created} answered OK`,
  );
  // Group ids must be plain names: every hostile one is refused.
  for (
    const cmd of [
      GroupCmd.CREATE,
      GroupCmd.JOIN,
      GroupCmd.LEAVE,
      GroupCmd.SEND,
      GroupCmd.MEMBERS,
      GroupCmd.DISMISS,
    ]
  ) {
    for (const value of HOSTILE_STRINGS.filter((v) => !/^[A-Za-z0-9_-]{1,64}$/.test(v))) {
      const response = await me.client.request(cmd, { groupId: value, key: "k", data: {} });
      expect.that(
        response.state === State.BAD_REQUEST,
        () => `${cmd} groupId=${JSON.stringify(value.slice(0, 40))}: state ${response.state}`,
      );
    }
  }
  // A key is any text of 1 to 128 characters, kept only as its hash: SQL in it is plain data.
  for (const key of HOSTILE_STRINGS) {
    const groupId = `sq${crypto.randomUUID().slice(0, 8)}`;
    const created = await me.client.request<Json>(GroupCmd.CREATE, { groupId, key });
    const fits = key.length >= 1 && key.length <= 128;
    if (!fits) {
      expect.that(
        created.state === State.BAD_REQUEST,
        () => `a key of ${key.length}: ${created.state}`,
      );
      continue;
    }
    expect.that(created.state === State.OK, () => `key ${JSON.stringify(key)}: ${created.msg}`);
    const wrong = await other.client.request(GroupCmd.JOIN, { groupId, key: key + "x" });
    expect.that(wrong.state === State.FORBIDDEN, () => `a near key joined: ${wrong.state}`);
    const right = await other.client.request(GroupCmd.JOIN, { groupId, key });
    expect.that(
      right.state === State.OK,
      () => `the exact key ${JSON.stringify(key)}: ${right.msg}`,
    );
    // Hostile text in a message's data arrives as it was sent.
    const got = new Promise<Json>((resolve) => {
      const off = other.client.on<Json>(GroupCmd.MSG, (data) => {
        if (data.groupId === groupId) {
          off();
          resolve(data.data);
        }
      });
    });
    await me.client.requestOk(GroupCmd.SEND, { groupId, data: { text: key } });
    const data = await got;
    expect.that(data.text === key, () => `the message changed on the way: ${JSON.stringify(data)}`);
    await me.client.requestOk(GroupCmd.DISMISS, { groupId });
  }
  // The login database is intact.
  const handle = db();
  try {
    const integrity = handle.prepare("PRAGMA integrity_check").get() as Record<string, string>;
    expect.that(
      Object.values(integrity)[0] === "ok",
      () => `login.sqlite: ${JSON.stringify(integrity)}`,
    );
    const tables = (handle.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[]).map((t) => t.name);
    expect.that(
      tables.includes("accounts") && tables.includes("tokens"),
      () => `login.sqlite tables: ${tables.join(", ")}`,
    );
  } finally {
    handle.close();
  }
  // The license server's LoginReq: instance ids are names, host and user are text stored as is.
  const dataDir = await makeLicenseDir({ seats: 200 });
  const license = await startLicenseServer({ dataDir, heartbeatMs: 1000 });
  try {
    const stored: string[] = [];
    for (const field of ["instanceId", "host", "user"]) {
      for (const value of HOSTILE_STRINGS) {
        const conn = await RawConn.open(license.port);
        try {
          const body = {
            instanceId: `sec-${crypto.randomUUID()}`,
            host: "h",
            user: "u",
            [field]: value,
          };
          const rsp = await conn.request("LoginReq", body);
          const max = field === "host" ? 255 : 128;
          const plain = value.length >= 1 && value.length <= max && !CONTROL.test(value);
          const allowed = field === "instanceId"
            ? plain && /^[A-Za-z0-9_.:@-]+$/.test(value)
            : plain;
          const state = rsp.json.state;
          expect.that(
            allowed ? state === State.OK : state === State.BAD_REQUEST,
            () =>
              `LoginReq ${field}=${JSON.stringify(value.slice(0, 40))}: ${
                JSON.stringify(rsp.json)
              }`,
          );
          if (allowed && field !== "instanceId") stored.push(value);
        } finally {
          await conn.close();
        }
      }
    }
    const status = await license.status(1000);
    const audited = new Set(status.audit.flatMap((a) => [a.host, a.user]));
    const missing = stored.filter((v) => !audited.has(v) && !/[\ud800-\udfff]/.test(v));
    expect.that(
      missing.length === 0,
      () => `audit lost hostile text: ${JSON.stringify(missing.slice(0, 3))}`,
    );
    const audit = new DatabaseSync(`${dataDir}/license.sqlite`, { readOnly: true });
    try {
      const integrity = audit.prepare("PRAGMA integrity_check").get() as Record<string, string>;
      expect.that(
        Object.values(integrity)[0] === "ok",
        () => `license.sqlite: ${JSON.stringify(integrity)}`,
      );
    } finally {
      audit.close();
    }
  } finally {
    await license.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
  expect.row.notes.push(`${HOSTILE_STRINGS.length} hostile strings in every field`);
  return expect.row;
}

/** Sends one raw HTTP/1.1 request (fetch would normalise the path) and reads the whole answer. */
async function rawHttp(
  base: string,
  path: string,
  method = "GET",
): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(
      chunks.reduce((all, c) => {
        const out = new Uint8Array(all.length + c.length);
        out.set(all);
        out.set(c, all.length);
        return out;
      }, new Uint8Array()),
    );
    return { status: Number(text.split(" ")[1]), body: text };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Path traversal against the static files. */
export async function pathTraversal(s: Stage, options: RunOptions): Promise<CaseResult> {
  const expect = new Expect("path traversal on the static files", options.seed);
  const ok = await rawHttp(s.gate.httpUrl, "/sub/app.js");
  expect.that(ok.status === 200, () => `a real file answered ${ok.status}`);
  const paths = [
    "/../secret.txt",
    "/../../../../etc/passwd",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/%25252e%25252e/secret.txt",
    "/..%252fsecret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%ae%c0%ae%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",
    "/..%c0%afsecret.txt",
    "/..%5csecret.txt",
    "/..%255csecret.txt",
    "/..\\secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/....//secret.txt",
    "/..;/secret.txt",
    "/%00/../secret.txt",
    "/index.html%00.js",
    "/\uff0e\uff0e/secret.txt",
    "/%ef%bc%8e%ef%bc%8e/secret.txt",
    "//../secret.txt",
    "/./../secret.txt",
    "/link.txt",
    "/up/secret.txt",
    "/up/./secret.txt",
    "/up/%2e/secret.txt",
    "/sub/../link.txt",
    "/.%2e/.%2e/secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/etc/shadow",
    "/.git/config",
    "/.env",
    `/${"../".repeat(40)}etc/passwd`,
    "/%",
    "/%zz",
  ];
  for (const path of paths) {
    for (const method of ["GET", "HEAD"]) {
      const { status, body } = await rawHttp(s.gate.httpUrl, path, method);
      expect.that(
        (status === 404 || status === 400) && !body.includes(s.secret) && !body.includes("root:"),
        () =>
          `${method} ${path} answered ${status}${
            body.includes(s.secret) ? " with the secret" : ""
          }`,
      );
    }
  }
  expect.row.notes.push(`${paths.length} paths, GET and HEAD`);
  return expect.row;
}

/** Guessed group keys and tokens. */
export async function guesses(s: Stage, options: RunOptions): Promise<CaseResult[]> {
  const keys = new Expect("guessed group keys", options.seed);
  const tokens = new Expect("guessed tokens", options.seed);
  const rng = new Rng(options.seed + 11);
  const count = Math.max(200, Math.floor(options.cases / 4));
  const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const owner = await user(s, s.gate.wsUrl, "keyowner");
  const group = await owner.client.requestOk<Json>(GroupCmd.CREATE, {});
  const attacker = await user(s, s.gate.tcpUrl, "guesser");
  const near = [
    group.key.slice(0, -1),
    group.key + "x",
    group.key.toUpperCase(),
    group.key.toLowerCase(),
    ` ${group.key}`,
    group.key.slice(0, -1) + (group.key.at(-1) === "A" ? "B" : "A"),
  ].filter((k) => k !== group.key);
  const tries = [...near, ...Array.from({ length: count }, () => rng.text(32, URL_SAFE))];
  for (const key of [...tries, "", "x".repeat(129), "' OR '1'='1"]) {
    const response = await attacker.client.request(GroupCmd.JOIN, { groupId: group.groupId, key });
    keys.that(
      response.state === State.FORBIDDEN || response.state === State.BAD_REQUEST,
      () => `a guessed key got ${response.state}: ${JSON.stringify(key)}`,
    );
  }
  for (const cmd of [GroupCmd.SEND, GroupCmd.MEMBERS, GroupCmd.DISMISS]) {
    const response = await attacker.client.request(cmd, { groupId: group.groupId, data: {} });
    keys.that(response.state === State.FORBIDDEN, () => `a non-member's ${cmd}: ${response.state}`);
  }
  const info = await owner.client.requestOk<Json>(GroupCmd.MEMBERS, { groupId: group.groupId });
  keys.that(info.members.length === 1, () => `the group has ${info.members.length} members`);

  const real = owner.login.token;
  const probe = await connectClient(s.gate.wsUrl);
  s.clients.push(probe);
  const tokenTries = [
    real.slice(0, -1) + (real.at(-1) === "A" ? "B" : "A"),
    real.slice(1) + "A",
    ...Array.from({ length: count }, () => rng.text(43, URL_SAFE)),
  ];
  for (const token of tokenTries) {
    const response = await probe.request(LoginCmd.LOGIN_BY_TOKEN, { token });
    tokens.that(response.state === State.FAIL, () => `a guessed token got ${response.state}`);
  }
  for (const token of [real.slice(0, -1), real + "A", "", real.toUpperCase() + "'--", 42, null]) {
    const response = await probe.request(LoginCmd.LOGIN_BY_TOKEN, { token });
    tokens.that(
      response.state === State.BAD_REQUEST || response.state === State.FAIL,
      () => `a malformed token got ${response.state}`,
    );
  }
  const seen = await probe.request<Json>("echo", {});
  tokens.that(seen.data.userId === 0, () => "a guessed token bound a user");
  keys.row.notes.push(`${tries.length} keys tried`);
  tokens.row.notes.push(`${tokenTries.length} tokens tried`);
  return [keys.row, tokens.row];
}

/** Tokens that must stop working: after logout, password change, a newer login, deletion. */
export async function revokedTokens(s: Stage, options: RunOptions): Promise<CaseResult> {
  const expect = new Expect("tokens after logout and revocation", options.seed);
  for (const transport of TRANSPORTS) {
    const url = s.gate.url(transport);
    const fresh = async () => {
      const client = await connectClient(url);
      s.clients.push(client);
      return client;
    };
    const byToken = async (token: string) =>
      (await (await fresh()).request(LoginCmd.LOGIN_BY_TOKEN, { token })).state;
    // Logout.
    const a = await user(s, url, "logout");
    const tokenA = a.login.token;
    await a.client.logout();
    expect.that(
      await byToken(tokenA) === State.FAIL,
      () => `${transport}: a token worked after logout`,
    );
    const after = await a.client.request(GroupCmd.CREATE, {});
    expect.that(after.state === State.NOT_LOGGED_IN, () => `${transport}: logged out, still bound`);
    // Password change: the old token goes, the new one works.
    const b = await user(s, url, "change");
    const oldToken = b.login.token;
    const changed = await b.client.changePassword({
      password: TEST_PASSWORD,
      newPassword: "newpass123",
    });
    expect.that(
      await byToken(oldToken) === State.FAIL,
      () => `${transport}: a token worked after a password change`,
    );
    expect.that(
      await byToken(changed.token) === State.OK,
      () => `${transport}: the new token failed`,
    );
    // A newer password login revokes the earlier token and kicks the earlier session.
    const c = await user(s, url, "twice");
    const kicked: unknown[] = [];
    c.client.on(GateCmd.KICKED, (data) => kicked.push(data));
    const second = await fresh();
    const newer = await second.login({ username: c.username, password: TEST_PASSWORD });
    expect.that(
      await byToken(c.login.token) === State.FAIL,
      () => `${transport}: an earlier token survived a login`,
    );
    await waitFor(() => kicked.length === 1, { what: "the kick" }).catch(() => {});
    expect.that(kicked.length === 1, () => `${transport}: the earlier session was not kicked`);
    // Account deletion.
    await second.deleteAccount({ password: TEST_PASSWORD });
    expect.that(
      await byToken(newer.token) === State.FAIL,
      () => `${transport}: a token worked after deletion`,
    );
  }
  return expect.row;
}

/** Every security check, on one suite. */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  return await withSeed({ seed: options.seed, name: "security" }, async () => {
    const s = await stage();
    try {
      return [
        await forgedFields(s, options),
        await serviceCommands(s, options),
        await wrongServiceKeys(s, options),
        await hostileStrings(s, options),
        await pathTraversal(s, options),
        ...await guesses(s, options),
        await revokedTokens(s, options),
      ];
    } finally {
      await unstage(s);
    }
  });
}

Deno.test({
  name: "security: forged fields, ss_ commands, service keys, hostile strings, paths, guesses",
  ...INTEGRATION,
  async fn(t) {
    const options: RunOptions = { seed: seedFromEnv(20_241_124), cases: 800, log: console.log };
    const s = await stage();
    try {
      const steps: Array<[string, () => Promise<CaseResult | CaseResult[]>]> = [
        ["forged clientId, userId and is_ss_link", () => forgedFields(s, options)],
        ["clients calling ss_ commands", () => serviceCommands(s, options)],
        ["wrong service keys are refused and slowed down", () => wrongServiceKeys(s, options)],
        [
          "SQL metacharacters and overlong strings in every field",
          () => hostileStrings(s, options),
        ],
        ["path traversal against the static files", () => pathTraversal(s, options)],
        ["guessed group keys and tokens", () => guesses(s, options)],
        [
          "tokens after logout, password change, a newer login, deletion",
          () => revokedTokens(s, options),
        ],
      ];
      for (const [name, step] of steps) {
        await t.step(name, () => withSeed({ seed: options.seed, name }, step).then(() => {}));
      }
    } finally {
      await unstage(s);
    }
  },
});
