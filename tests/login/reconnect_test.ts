import assert from "node:assert/strict";
import { type GateClient, type ReloginFailure, State } from "../../client/mod.ts";
import { startLogin } from "../helpers/login.ts";
import {
  connectClient,
  freePorts,
  INTEGRATION,
  startEcho,
  startGate,
  TRANSPORTS,
  waitFor,
} from "../helpers/suite.ts";

Deno.test({
  name: "a client logged in before a gate restart is logged in again by its token",
  ...INTEGRATION,
  async fn() {
    const [port, tcpPort] = freePorts(2);
    let gate = await startGate({ port, tcpPort });
    const dataDir = gate.dataDir;
    const login = await startLogin(gate);
    const echo = await startEcho(gate);
    const clients: GateClient[] = [];
    try {
      const sessions: Array<{ client: GateClient; userId: number; token: string }> = [];
      const failures: ReloginFailure[] = [];
      for (const transport of TRANSPORTS) {
        const client = await connectClient(gate.url(transport), {
          reconnect: true,
          backoffMaxMs: 300,
        });
        clients.push(client);
        client.onReloginFailed((failure) => failures.push(failure));
        const username = `re${transport}${crypto.randomUUID().slice(0, 8)}`;
        await client.register({ username, password: "secret123" });
        const { userId, token } = await client.login({ username, password: "secret123" });
        sessions.push({ client, userId, token });
      }
      const fromLogin = login.lines.length;
      const fromEcho = echo.lines.length;
      assert.equal(await gate.stop(), 0);
      await waitFor(() => clients.every((client) => client.state !== "connected"), {
        what: "the clients to see the gate go",
      });
      assert.ok(clients.every((client) => !client.loggedIn));
      gate = await startGate({ port, tcpPort, dataDir });
      await login.waitForLine(/registered again/, { from: fromLogin });
      await echo.waitForLine(/registered again/, { from: fromEcho });
      for (const { client, userId, token } of sessions) {
        await waitFor(() => client.loggedIn, { what: "the re-login by token" });
        assert.equal(client.userId, userId);
        assert.equal(client.token, token, "the token is kept");
        const seen = await client.request<{ userId: number }>("echo", {});
        assert.equal(seen.state, State.OK);
        assert.equal(seen.data.userId, userId, "the new gate has the user bound");
      }
      // A reconnect that came before the login service was back is retried, never refused.
      assert.deepEqual(failures.filter((failure) => !failure.retrying), []);
    } finally {
      for (const client of clients) client.close();
      await echo.stop();
      await login.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name: "a re-login that finds no login service keeps the token and retries until it is back",
  ...INTEGRATION,
  async fn() {
    const [port, tcpPort] = freePorts(2);
    let gate = await startGate({ port, tcpPort });
    const dataDir = gate.dataDir;
    let login = await startLogin(gate);
    let client: GateClient | undefined;
    try {
      client = await connectClient(gate.wsUrl, {
        reconnect: true,
        backoffMaxMs: 300,
        reloginWaitMs: 300,
      });
      const failures: ReloginFailure[] = [];
      client.onReloginFailed((failure) => failures.push(failure));
      const username = `retry${crypto.randomUUID().slice(0, 8)}`;
      await client.register({ username, password: "secret123" });
      const { userId, token } = await client.login({ username, password: "secret123" });
      assert.equal(await login.stop(), 0);
      assert.equal(await gate.stop(), 0);
      gate = await startGate({ port, tcpPort, dataDir });
      // The new gate has never heard of the login commands: the client cannot log in yet.
      await waitFor(() => failures.length > 0, { what: "a relogin failure" });
      assert.equal(failures[0].state, State.UNDEFINED_CMD);
      assert.equal(failures[0].retrying, true);
      assert.equal(client.state, "connected");
      assert.equal(client.loggedIn, false);
      assert.equal(client.token, token, "the token is kept");
      login = await startLogin(gate);
      await waitFor(() => client!.loggedIn, { what: "the background re-login" });
      assert.equal(client.userId, userId);
      assert.equal(failures.filter((failure) => !failure.retrying).length, 0);
    } finally {
      client?.close();
      await login.stop();
      await gate.stop();
    }
  },
});
