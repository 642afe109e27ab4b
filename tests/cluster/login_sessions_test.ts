/**
 * One session per account across two login instances on two gates (issue 16): the session
 * registry in NATS KV, a login instance SIGKILLed mid-login, and gates going down.
 */

import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { type GateClient, type ResponseEnvelope, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import { parseEntry, SESSIONS_BUCKET } from "../../server/login/kv_sessions.ts";
import { ANNOUNCE_SUBJECT } from "../../server/gate/cluster_subjects.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { type NatsServer, natsServerTool, startNats } from "../helpers/nats.ts";
import { ROOT_DIR, type RunningProcess, taskArgs } from "../helpers/process.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startGate,
  waitFor,
} from "../helpers/suite.ts";

const natsServer = natsServerTool();

/** Two gates joined over `nats`, sharing a data dir (the service key and login.sqlite). */
async function startGates(nats: NatsServer): Promise<GateProcess[]> {
  const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_sessions_" });
  return await Promise.all(
    ["a", "b"].map((id) => startGate({ dataDir, flags: ["--cluster", nats.url, "--gate-id", id] })),
  );
}

/** A login instance linked to `gate`, sharing the registry through `nats`. */
function startClusterLogin(gate: GateProcess, nats: NatsServer): Promise<RunningProcess> {
  return startLogin(gate, { flags: ["--cluster", nats.url] });
}

/** Waits until a client on `gate` gets an answer from the login service. */
async function waitLogin(gate: GateProcess): Promise<void> {
  const probe = await connectClient(gate.wsUrl);
  try {
    await waitFor(async () => {
      const state = (await probe.request(LoginCmd.LOGOUT, {})).state;
      return state === State.NOT_LOGGED_IN;
    }, { what: `the login service from ${gate.wsUrl}` });
  } finally {
    probe.close();
  }
}

/**
 * Whether the gate holds a user bound to this client: a change of password to the same one needs
 * a login (else `NOT_LOGGED_IN`) and is then refused before anything is checked or written.
 */
async function isBound(client: GateClient): Promise<boolean> {
  const answer = await client.request(LoginCmd.CHANGE_PW, {
    password: TEST_PASSWORD,
    newPassword: TEST_PASSWORD,
  });
  if (answer.state === State.NOT_LOGGED_IN) return false;
  assert.equal(answer.state, State.FAIL, `unexpected answer ${JSON.stringify(answer)}`);
  assert.match(answer.msg ?? "", /must differ/);
  return true;
}

/** Registers a new account through `gate`; resolves with its username. */
async function newAccount(gate: GateProcess, prefix: string): Promise<string> {
  const client = await connectClient(gate.wsUrl);
  try {
    const username = uniqueName(prefix);
    await client.register({ username, password: TEST_PASSWORD });
    return username;
  } finally {
    client.close();
  }
}

/** Counts the lines of a process that match. */
function count(process: RunningProcess, pattern: RegExp): number {
  return process.lines.filter((line) => pattern.test(line)).length;
}

Deno.test({
  name: "login cluster: 50 rounds of simultaneous logins of one account through two gates and " +
    "two login instances leave exactly one bound session, holding the valid token",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const gates = await startGates(nats);
    const logins: RunningProcess[] = [];
    try {
      // One after the other: the first creates login.sqlite, the second opens it.
      logins.push(await startClusterLogin(gates[0], nats));
      logins.push(await startClusterLogin(gates[1], nats));
      for (const gate of gates) await waitLogin(gate);
      const username = await newAccount(gates[0], "race");
      for (let round = 0; round < 50; round++) {
        const clients = await Promise.all([
          connectClient(gates[0].wsUrl),
          connectClient(gates[1].tcpUrl),
        ]);
        const kicked = clients.map(() => 0);
        clients.forEach((client, i) => client.on("sc_msg_kicked", () => kicked[i]++));
        try {
          const answers = await Promise.all(
            clients.map((client) =>
              client.request<{ token: string }>(LoginCmd.LOGIN, {
                username,
                password: TEST_PASSWORD,
              })
            ),
          ) as ResponseEnvelope<{ token: string }>[];
          const bound = await Promise.all(clients.map(isBound));
          const what = `round ${round}: answers ${answers.map((a) => a.state)}, bound ${bound}`;
          assert.equal(bound.filter(Boolean).length, 1, what);
          const winner = bound.indexOf(true);
          const loser = 1 - winner;
          assert.equal(answers[winner].state, State.OK, what);
          if (answers[loser].state === State.OK) {
            await waitFor(() => kicked[loser] === 1, { what: `sc_msg_kicked, ${what}` });
          }
          assert.equal(kicked[winner], 0, what);
          // The bound session holds the account's valid token; the kicked one's was revoked.
          const checker = await connectClient(gates[round % 2].wsUrl);
          try {
            if (answers[loser].state === State.OK) {
              const old = await checker.request(LoginCmd.LOGIN_BY_TOKEN, {
                token: answers[loser].data.token,
              });
              assert.equal(old.state, State.FAIL, `the kicked session's token, ${what}`);
            }
            const current = await checker.request(LoginCmd.LOGIN_BY_TOKEN, {
              token: answers[winner].data.token,
            });
            assert.equal(current.state, State.OK, `the bound session's token, ${what}`);
          } finally {
            checker.close();
          }
        } finally {
          for (const client of clients) client.close();
        }
      }
      // Both instances did logins (the gates spread requests over them).
      for (const login of logins) {
        assert.ok(count(login, / logged in /) > 0, "each login instance handled logins");
      }
    } finally {
      for (const login of logins) await login.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "login cluster: a login instance SIGKILLed mid-login leaves no double session; the next " +
    "login gives one bound session",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const gates = await startGates(nats);
    const nc = await connect({ servers: nats.url });
    const victimName = (n: number) => `victim-${n}`;
    let victim: RunningProcess | undefined;
    let survivor: RunningProcess | undefined;
    const clients: GateClient[] = [];
    try {
      victim = await startLogin(gates[0], { name: victimName(0), flags: ["--cluster", nats.url] });
      survivor = await startClusterLogin(gates[1], nats);
      for (const gate of gates) await waitLogin(gate);
      const registrar = await connectClient(gates[1].wsUrl);
      clients.push(registrar);
      const username = uniqueName("kill");
      const { userId } = await registrar.register({ username, password: TEST_PASSWORD });
      const kv = await new Kvm(nc).open(SESSIONS_BUCKET);
      // Kills until three of them hit the victim holding the account's claim (mid-login), at
      // most 12; after each, one login gives exactly one bound session.
      let midLogin = 0;
      let kills = 0;
      for (let kill = 0; kill < 12 && midLogin < 3; kill++, kills++) {
        const storm = await Promise.all(
          Array.from(
            { length: 8 },
            (_, i) => connectClient(gates[i % 2].url(i < 4 ? "ws" : "tcp")),
          ),
        );
        clients.push(...storm);
        // Every client logs in again and again until the kill: turns on one account, on both
        // instances, without a pause.
        let storming = true;
        const logins = Promise.allSettled(storm.map(async (client) => {
          while (storming) {
            await client.request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
          }
        }));
        await delay(100 + 40 * kill);
        victim.kill("SIGKILL");
        await victim.stop();
        storming = false;
        const found = await kv.get(String(userId));
        const entry = found && found.operation === "PUT" ? parseEntry(found.string()) : undefined;
        if (entry?.claim && entry.instance === victimName(kill)) midLogin++;
        await logins;
        // One more login, through the gate of the surviving instance.
        const last = await connectClient(gates[1].tcpUrl);
        clients.push(last);
        const answer = await last.request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
        assert.equal(answer.state, State.OK, `the login after the kill: ${JSON.stringify(answer)}`);
        const bound = await Promise.all([...storm, last].map(isBound));
        assert.deepEqual(
          bound.map((b, i) => b ? i : -1).filter((i) => i >= 0),
          [storm.length],
          `only the last login is bound (kill ${kill})`,
        );
        for (const client of storm) client.close();
        victim = await startLogin(gates[0], {
          name: victimName(kill + 1),
          flags: ["--cluster", nats.url],
        });
        await waitLogin(gates[0]);
      }
      console.log(`${kills} kills, ${midLogin} of them mid-login (the victim held the claim)`);
      assert.ok(midLogin > 0, "at least one kill hit the victim holding the account's claim");
      assert.ok(count(survivor, /lapsed session claim taken over/) >= midLogin);
    } finally {
      for (const client of clients) client.close();
      await nc.close();
      await victim?.stop();
      await survivor?.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "login cluster: a gate going down drops its clients' sessions from the registry",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const gates = await startGates(nats);
    const logins: RunningProcess[] = [];
    const clients: GateClient[] = [];
    const nc = await connect({ servers: nats.url });
    try {
      logins.push(await startClusterLogin(gates[0], nats));
      for (const gate of gates) await waitLogin(gate);
      const names = [await newAccount(gates[0], "stay"), await newAccount(gates[0], "gone")];
      const ids: number[] = [];
      for (const [i, gate] of gates.entries()) {
        const client = await connectClient(gate.wsUrl);
        clients.push(client);
        ids.push((await client.login({ username: names[i], password: TEST_PASSWORD })).userId);
      }
      const kv = await new Kvm(nc).open(SESSIONS_BUCKET);
      const entry = async (userId: number) => {
        const found = await kv.get(String(userId));
        return found && found.operation === "PUT" ? parseEntry(found.string()) : undefined;
      };
      for (const userId of ids) assert.ok((await entry(userId))?.clientId, "a settled entry");
      // Gate A reports only gates it has heard: wait for an announce of gate B (every second).
      const announces = nc.subscribe(ANNOUNCE_SUBJECT);
      for await (const msg of announces) {
        if ((msg.json() as { gateId?: string }).gateId === "b") break;
      }
      gates[1].kill("SIGKILL");
      await gates[1].stop();
      await waitFor(async () => (await entry(ids[1])) === undefined, {
        what: "the down gate's session dropped",
        timeoutMs: 20_000,
      }).catch((error) => {
        console.log(logins[0].lines.join("\n"));
        console.log(gates[0].lines.join("\n"));
        throw error;
      });
      assert.ok((await entry(ids[0]))?.clientId, "the other gate's session stays");
      assert.equal(await isBound(clients[0]), true);
      assert.ok(count(logins[0], /gate down: sessions dropped gate=\d+ sessions=1/) > 0);
    } finally {
      for (const client of clients) client.close();
      await nc.close();
      for (const login of logins) await login.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});

/** Runs `deno task login` with `args` to its end; resolves with its exit code and output. */
async function runLogin(args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs("login"), ...args],
    cwd: ROOT_DIR,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test({
  name: "login cluster: --cluster-creds joins a NATS with a password; without them, or with a " +
    "bad --cluster, the instance says why and exits",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const password = crypto.randomUUID();
    const nats = await startNats({ auth: { user: "gate", password } });
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_creds_" });
    const creds = `${dataDir}/nats-gate.json`;
    await Deno.writeTextFile(creds, JSON.stringify({ user: "gate", password }), { mode: 0o600 });
    const gate = await startGate({
      dataDir,
      flags: ["--cluster", nats.url, "--gate-id", "a", "--cluster-creds", creds],
    });
    let login: RunningProcess | undefined;
    try {
      const bad = await runLogin(["--cluster", "nope", "--data-dir", dataDir]);
      assert.equal(bad.code, 2);
      assert.match(bad.output, /Flag --cluster takes nats:\/\/host:port URLs, not "nope"/);
      const lone = await runLogin(["--cluster-creds", creds, "--data-dir", dataDir]);
      assert.equal(lone.code, 2);
      assert.match(lone.output, /Flag --cluster-creds needs --cluster/);
      const refused = await runLogin([
        "--cluster",
        nats.url,
        "--gate",
        gate.wsUrl,
        "--data-dir",
        dataDir,
      ]);
      assert.equal(refused.code, 1);
      assert.match(refused.output, /start failed error="Cannot join the cluster at \S+: /);
      login = await startLogin(gate, { flags: ["--cluster", nats.url, "--cluster-creds", creds] });
      assert.ok(login.lines.some((line) => line.includes("cluster joined")));
      const client = await connectClient(gate.wsUrl);
      try {
        const username = uniqueName("creds");
        await client.register({ username, password: TEST_PASSWORD });
        const answer = await client.login({ username, password: TEST_PASSWORD });
        assert.ok(answer.userId > 0);
      } finally {
        client.close();
      }
    } finally {
      await login?.stop();
      await gate.stop();
      await nats.stop();
    }
  },
});

Deno.test({
  name: "login cluster: without NATS a login is refused SERVER_BUSY rather than risk two " +
    "sessions, and works again once NATS is back",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const gates = await startGates(nats);
    let login: RunningProcess | undefined;
    const client = await connectClient(gates[0].wsUrl);
    try {
      login = await startClusterLogin(gates[0], nats);
      await waitLogin(gates[0]);
      const username = await newAccount(gates[0], "nonats");
      await nats.stop();
      const asked = Date.now();
      const answer = await client.request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD }, {
        timeoutMs: 20_000,
      });
      console.log(`answered in ${Date.now() - asked} ms without NATS`);
      assert.equal(answer.state, State.SERVER_BUSY, JSON.stringify(answer));
      assert.equal(answer.msg, "The session registry cannot be reached: try again");
      assert.equal(await isBound(client), false);
      await nats.restart();
      await waitFor(async () => {
        const again = await client.request(LoginCmd.LOGIN, {
          username,
          password: TEST_PASSWORD,
        }, { timeoutMs: 20_000 });
        return again.state === State.OK;
      }, { what: "a login once NATS is back", timeoutMs: 30_000 });
      assert.equal(await isBound(client), true);
    } finally {
      client.close();
      await login?.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});
