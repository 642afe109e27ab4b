import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type GateClient, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import { startLogin } from "../helpers/login.ts";
import { connectClient, INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

const PASSWORD = "durable123";
const CLIENTS = 6;
const REGISTERS = 300;

Deno.test({
  name: "login durability: every register answered OK survives SIGKILL of the login process",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    let login = await startLogin(gate);
    const clients: GateClient[] = [];
    try {
      for (let i = 0; i < CLIENTS; i++) {
        clients.push(await connectClient(i % 2 === 0 ? gate.wsUrl : gate.tcpUrl));
      }
      const run = crypto.randomUUID().replace(/-/g, "").slice(0, 6);
      const names = Array.from({ length: REGISTERS }, (_, i) => `d${run}n${i}`);
      const ok: string[] = [];
      const notOk = new Map<string, number>();
      const count = (what: string) => notOk.set(what, (notOk.get(what) ?? 0) + 1);
      const all = names.map((username, i) =>
        clients[i % CLIENTS].request(LoginCmd.REGISTER, { username, password: PASSWORD }).then(
          (response) =>
            response.state === State.OK ? ok.push(username) : count(`${response.state}`),
          (error: Error) => count(error.name),
        )
      );
      await waitFor(() => ok.length >= REGISTERS / 2, { what: "half the registers answered OK" });
      login.kill("SIGKILL");
      await Promise.all(all);
      const status = await login.status;
      assert.equal(status.signal, "SIGKILL");
      assert.ok(ok.length < REGISTERS, `killed mid-way: ${ok.length} of ${REGISTERS} were OK`);
      // The gate answers what the dead service held SERVER_OFF; nothing else goes wrong.
      assert.deepEqual([...notOk.keys()], [`${State.SERVER_OFF}`]);

      login = await startLogin(gate);
      const failed: string[] = [];
      await Promise.all(ok.map(async (username, i) => {
        const response = await clients[i % CLIENTS].request(LoginCmd.LOGIN, {
          username,
          password: PASSWORD,
        });
        if (response.state !== State.OK) failed.push(`${username}: ${response.msg}`);
      }));
      assert.deepEqual(failed, [], "every account whose register got OK logs in after restart");
    } finally {
      for (const client of clients) client.close();
      await login.stop();
      await gate.stop();
    }
    // SIGTERM let the restarted process commit, close the database and say so.
    assert.ok(login.lines.some((line) => / stopped commits=\d+ writes=\d+/.test(line)));
    const db = new DatabaseSync(`${gate.dataDir}/login.sqlite`, { readOnly: true });
    try {
      const n = (db.prepare("SELECT count(*) AS n FROM accounts").get() as { n: number }).n;
      assert.ok(n <= REGISTERS);
    } finally {
      db.close();
    }
  },
});
