/**
 * The failed-login throttle shared by login instances through NATS KV (issue 16): failures
 * handled by one instance lock the (account, address) pair on another, and a restart keeps it.
 */

import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import { DEFAULT_THROTTLE_POLICY as P } from "../../server/login/login_throttle.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import type { RunningProcess } from "../helpers/process.ts";
import {
  connectClient,
  delay,
  type GateProcess,
  INTEGRATION,
  startGate,
  waitFor,
} from "../helpers/suite.ts";

const natsServer = natsServerTool();

const LOCKED = /Too many failed logins for this account from your address: try again in \d+ s/;

Deno.test({
  name: "login cluster: failures through instance A lock the pair on instance B, and the lock " +
    "survives a restart of the login service",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const nats = await startNats();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_throttle_" });
    const gates: GateProcess[] = await Promise.all(
      ["a", "b"].map((id) =>
        startGate({ dataDir, flags: ["--cluster", nats.url, "--gate-id", id] })
      ),
    );
    const flags = ["--cluster", nats.url];
    let a: RunningProcess | undefined;
    let b: RunningProcess | undefined;
    const clients = await Promise.all(gates.map((gate) => connectClient(gate.wsUrl)));
    try {
      // Only instance A runs while the failures are made: A counts every one.
      a = await startLogin(gates[0], { flags });
      await waitFor(async () =>
        (await clients[1].request(LoginCmd.LOGOUT, {})).state === State.NOT_LOGGED_IN
      );
      const username = uniqueName("shared");
      const other = uniqueName("other");
      for (const name of [username, other]) {
        await clients[0].register({ username: name, password: TEST_PASSWORD });
      }
      for (let i = 0; i < P.lockAfter; i++) {
        const answer = await clients[0].request(LoginCmd.LOGIN, { username, password: "wrong123" });
        assert.equal(answer.state, State.FAIL);
        assert.doesNotMatch(answer.msg ?? "", LOCKED, `failure ${i + 1} is not refused yet`);
      }
      // Instance B (on gate B) alone now: it refuses the right password for that pair.
      b = await startLogin(gates[1], { flags });
      await a.stop();
      a = undefined;
      const refused = await clients[1].request(LoginCmd.LOGIN, {
        username,
        password: TEST_PASSWORD,
      });
      assert.equal(refused.state, State.FAIL);
      assert.match(refused.msg ?? "", LOCKED);
      assert.ok(b.lines.some((line) => line.includes("attempt refused: account locked")));
      // Per (account, address), not per address: another account from the address logs in.
      const ok = await clients[1].request(LoginCmd.LOGIN, {
        username: other,
        password: TEST_PASSWORD,
      });
      assert.equal(ok.state, State.OK);
      // A restart of the login service (a fresh instance) keeps the lock.
      await b.stop();
      b = await startLogin(gates[1], { flags });
      // Gate A hears that gate B serves login again at B's next announcement: until then its
      // answer is the retryable SERVER_OFF, which a client tries again.
      let again = await clients[0].request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
      for (let i = 0; again.state === State.SERVER_OFF && i < 30; i++) {
        await delay(100);
        again = await clients[0].request(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
      }
      assert.equal(again.state, State.FAIL);
      assert.match(again.msg ?? "", LOCKED);
    } finally {
      for (const client of clients) client.close();
      await a?.stop();
      await b?.stop();
      for (const gate of gates) await gate.stop();
      await nats.stop();
    }
  },
});
