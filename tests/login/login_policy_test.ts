import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type GateClient, GateClient as Client, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import {
  loggedInClient as loggedIn,
  startLogin,
  TEST_PASSWORD as PASSWORD,
  uniqueName,
} from "../helpers/login.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startGate,
  waitFor,
} from "../helpers/suite.ts";

Deno.test({
  name:
    "login service: repeated failures slow, then lock, one account for the failing address only",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const login = await startLogin(gate);
    const clients: GateClient[] = [];
    try {
      const attacker = await connectClient(gate.wsUrl);
      // The owner connects from another address (framed TCP can pick its local address).
      const owner = await connectClient(gate.tcpUrl, { localAddress: "127.0.0.2" });
      const bystander = await connectClient(gate.wsUrl);
      clients.push(attacker, owner, bystander);
      const victim = uniqueName("victim");
      const other = uniqueName("other");
      await owner.register({ username: victim, password: PASSWORD });
      await bystander.register({ username: other, password: PASSWORD });
      const guess = () =>
        attacker.request(LoginCmd.LOGIN, { username: victim, password: "guess1234" });
      for (let i = 0; i < 4; i++) assert.equal((await guess()).state, State.FAIL);
      // The 5th guess waits its backoff; meanwhile another account logs in without waiting.
      let fifthDone = false;
      const fifth = guess().then((response) => {
        fifthDone = true;
        return response;
      });
      await bystander.login({ username: other, password: PASSWORD });
      assert.equal(fifthDone, false, "the other account did not wait behind the slowed one");
      assert.equal((await fifth).msg, "The username or password is wrong");
      // Locked for the attacker's address: even the right password is refused, with when to
      // try again, and case does not get around it.
      for (const username of [victim, victim.toUpperCase()]) {
        const locked = await attacker.request(LoginCmd.LOGIN, { username, password: PASSWORD });
        assert.equal(locked.state, State.FAIL);
        assert.match(
          locked.msg!,
          /^Too many failed logins for this account from your address: try again in (\d+) s$/,
        );
        const seconds = Number(locked.msg!.match(/(\d+) s$/)![1]);
        assert.ok(seconds > 0 && seconds <= 60, `${seconds} s`);
      }
      // The owner, from another address, logs in at once.
      const started = performance.now();
      assert.equal((await owner.login({ username: victim, password: PASSWORD })).username, victim);
      assert.ok(performance.now() - started < 2000, "the owner was not slowed");
      assert.equal((await bystander.request(LoginCmd.LOGOUT, {})).state, State.OK);
      assert.equal(
        (await bystander.login({ username: other, password: PASSWORD })).username,
        other,
      );
    } finally {
      for (const client of clients) client.close();
      await login.stop();
      await gate.stop();
    }
    assert.ok(
      login.lines.some((line) => /attempt refused: account locked for the address/.test(line)),
    );
  },
});

Deno.test({
  name: "login service: tokens expire (--token-ttl-s), and a refused re-login is reported",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const login = await startLogin(gate, { flags: ["--token-ttl-s", "1"] });
    const clients: GateClient[] = [];
    try {
      const { client, login: result } = await loggedIn(gate.wsUrl, "exp");
      clients.push(client);
      assert.ok(result.expiresAt - Date.now() <= 1000);
      const other = await connectClient(gate.tcpUrl);
      clients.push(other);
      assert.equal((await other.loginByToken(result.token)).userId, result.userId);
      await delay(Math.max(0, result.expiresAt - Date.now()) + 100);
      const expired = await other.request(LoginCmd.LOGIN_BY_TOKEN, { token: result.token });
      assert.equal(expired.state, State.FAIL);
      assert.equal(expired.msg, "The token is not valid or has expired");
      // A client started with a token that is refused reports it and drops the token.
      const failures: Array<{ state: number; retrying: boolean }> = [];
      const starter = new Client({ url: gate.wsUrl, reconnect: false, token: result.token });
      clients.push(starter);
      starter.onReloginFailed((failure) => failures.push(failure));
      await starter.connect();
      assert.deepEqual(failures.map((f) => [f.state, f.retrying]), [[State.FAIL, false]]);
      assert.equal(starter.token, undefined);
      assert.equal(starter.loggedIn, false);
    } finally {
      for (const client of clients) client.close();
      await login.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name: "login service: a hash weaker than --hash-cost is raised at the next login",
  ...INTEGRATION,
  async fn() {
    const gate: GateProcess = await startGate();
    let login = await startLogin(gate);
    const clients: GateClient[] = [];
    try {
      const client = await connectClient(gate.wsUrl);
      clients.push(client);
      const username = uniqueName("rehash");
      const { userId } = await client.register({ username, password: PASSWORD });
      const storedHash = () => {
        const db = new DatabaseSync(`${gate.dataDir}/login.sqlite`, { readOnly: true });
        try {
          return db.prepare("SELECT password_hash AS h FROM accounts WHERE id = ?").get(userId)!
            .h as string;
        } finally {
          db.close();
        }
      };
      assert.match(storedHash(), /^\$scrypt\$ln=10,r=8,p=1\$/);
      assert.equal(await login.stop(), 0);
      login = await startLogin(gate, { flags: ["--hash-cost", "owasp"] });
      await waitFor(async () =>
        (await client.request(LoginCmd.LOGOUT, {})).state !== State.SERVER_OFF
      );
      assert.equal((await client.login({ username, password: PASSWORD })).userId, userId);
      assert.match(storedHash(), /^\$scrypt\$ln=16,r=8,p=2\$/);
      await client.logout();
      assert.equal((await client.login({ username, password: PASSWORD })).userId, userId);
    } finally {
      for (const client of clients) client.close();
      await login.stop();
      await gate.stop();
    }
    assert.equal(login.lines.some((line) => /WARN .*INSECURE/.test(line)), false);
  },
});
