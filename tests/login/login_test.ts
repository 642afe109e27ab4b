import assert from "node:assert/strict";
import { type GateClient, GateClient as Client, ResponseError, State } from "../../client/mod.ts";
import { GateCmd, LoginCmd } from "../../shared/mod.ts";
import {
  loggedInClient,
  startLogin,
  TEST_PASSWORD as PASSWORD,
  uniqueName,
} from "../helpers/login.ts";
import type { RunningProcess } from "../helpers/process.ts";
import {
  connectClient,
  delay,
  INTEGRATION,
  startEcho,
  startGate,
  TRANSPORTS,
  waitFor,
} from "../helpers/suite.ts";

/** Tokens the tests saw, to check that none reached the log. */
const issued = new Set<string>();

/** The user the gate has bound to a client's connection, as a service sees it. */
async function boundUser(client: GateClient): Promise<number> {
  const response = await client.request<{ userId: number }>("echo", {});
  assert.equal(response.state, State.OK);
  return response.data.userId;
}

/** A client with an account, logged in; its token is remembered. */
async function loggedIn(url: string, prefix: string) {
  const result = await loggedInClient(url, prefix);
  issued.add(result.login.token);
  return result;
}

Deno.test({
  name: "login service: accounts, logins, tokens and sessions over WebSocket and TCP",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const clients: GateClient[] = [];
    const track = <T extends { client: GateClient } | GateClient>(value: T): T => {
      clients.push(value instanceof Client ? value : (value as { client: GateClient }).client);
      return value;
    };
    let login: RunningProcess | undefined;
    let echo: RunningProcess | undefined;
    try {
      login = await startLogin(gate);
      echo = await startEcho(gate);
      for (const transport of TRANSPORTS) {
        const url = gate.url(transport);

        await t.step(`${transport}: register, and a taken username is refused`, async () => {
          const client = track(await connectClient(url));
          const username = uniqueName("reg");
          const { userId } = await client.register({ username, password: PASSWORD });
          assert.ok(Number.isSafeInteger(userId) && userId > 0);
          assert.equal(client.userId, 0, "register does not log in");
          assert.equal(await boundUser(client), 0);
          for (const taken of [username, username.toUpperCase()]) {
            const again = await client.request(LoginCmd.REGISTER, {
              username: taken,
              password: "another123",
            });
            assert.equal(again.state, State.FAIL);
            assert.equal(again.msg, `Username ${taken} is taken`);
          }
        });

        await t.step(`${transport}: login, and wrong passwords are refused`, async () => {
          const client = track(await connectClient(url));
          const username = uniqueName("login");
          const { userId } = await client.register({ username, password: PASSWORD });
          const before = Date.now();
          const result = await client.login({ username, password: PASSWORD });
          assert.equal(result.userId, userId);
          assert.equal(result.username, username);
          assert.match(result.token, /^[A-Za-z0-9_-]{43}$/);
          assert.ok(result.expiresAt >= before + 7 * 24 * 3600_000 - 60_000, "7 days by default");
          assert.equal(client.token, result.token);
          assert.equal(client.userId, userId);
          assert.equal(client.loggedIn, true);
          assert.equal(await boundUser(client), userId, "the gate has the user bound");

          const other = track(await connectClient(url));
          const wrong = await other.request(LoginCmd.LOGIN, { username, password: "wrong1234" });
          assert.equal(wrong.state, State.FAIL);
          assert.equal(wrong.msg, "The username or password is wrong");
          const unknown = await other.request(LoginCmd.LOGIN, {
            username: uniqueName("nobody"),
            password: PASSWORD,
          });
          assert.equal(unknown.state, State.FAIL);
          assert.equal(unknown.msg, wrong.msg, "an unknown user looks like a wrong password");
          assert.equal(await boundUser(other), 0);
          // The username is case-insensitive, and answered as registered.
          const upper = await other.login({ username: username.toUpperCase(), password: PASSWORD });
          assert.equal(upper.userId, userId);
          assert.equal(upper.username, username);
        });

        await t.step(`${transport}: logged-in commands need a login`, async () => {
          const client = track(await connectClient(url));
          for (
            const [cmd, data] of [
              [LoginCmd.LOGOUT, {}],
              [LoginCmd.CHANGE_PW, { password: PASSWORD, newPassword: "newpass123" }],
              [LoginCmd.DELETE_ACCOUNT, { password: PASSWORD }],
            ] as const
          ) {
            const response = await client.request(cmd, data);
            assert.equal(response.state, State.NOT_LOGGED_IN, cmd);
            assert.equal(response.msg, "Log in first");
          }
        });

        await t.step(`${transport}: token login on a new connection`, async () => {
          const first = track(await loggedIn(url, "tok"));
          const second = track(await connectClient(url));
          const result = await second.loginByToken(first.login.token);
          assert.equal(result.userId, first.userId);
          assert.equal(result.username, first.username);
          assert.equal(result.token, first.login.token, "a token login keeps its token");
          assert.equal(result.expiresAt, first.login.expiresAt);
          assert.equal(await boundUser(second), first.userId);
          const bogus = await second.request(LoginCmd.LOGIN_BY_TOKEN, { token: "A".repeat(43) });
          assert.equal(bogus.state, State.FAIL);
          assert.equal(bogus.msg, "The token is not valid or has expired");
        });

        await t.step(`${transport}: a second login kicks the first`, async () => {
          const first = track(await loggedIn(url, "kick"));
          const kicks: Array<{ reason: string }> = [];
          first.client.on<{ reason: string }>(GateCmd.KICKED, (data) => kicks.push(data));
          const second = track(await connectClient(url));
          await second.login({ username: first.username, password: PASSWORD });
          await waitFor(() => kicks.length === 1, { what: "sc_msg_kicked" });
          assert.match(kicks[0].reason, /logged in on another connection/);
          const next = await first.client.request(LoginCmd.LOGOUT, {});
          assert.equal(next.state, State.NOT_LOGGED_IN, "the kicked connection is unbound");
          assert.equal(first.client.state, "connected", "the kicked connection stays open");
          assert.equal(await boundUser(first.client), 0);
          assert.equal(first.client.token, undefined, "a kicked client drops its token");
          assert.equal(first.client.userId, 0);
          assert.equal(await boundUser(second), first.userId);
          // The first token was replaced by the second login: it cannot take the session back.
          const back = await first.client.request(LoginCmd.LOGIN_BY_TOKEN, {
            token: first.login.token,
          });
          assert.equal(back.state, State.FAIL);
          await delay(500); // a second kick would arrive in this time
          assert.equal(kicks.length, 1);
          // A token login kicks too.
          const secondKicks: unknown[] = [];
          second.on(GateCmd.KICKED, (data) => secondKicks.push(data));
          const third = track(await connectClient(url));
          await third.loginByToken(second.token);
          await waitFor(() => secondKicks.length === 1, { what: "the second kick" });
          assert.equal(await boundUser(second), 0);
          assert.equal(await boundUser(third), first.userId);
        });

        await t.step(`${transport}: logout unbinds and revokes the token`, async () => {
          const { client, login } = track(await loggedIn(url, "out"));
          await client.logout();
          assert.equal(client.token, undefined);
          assert.equal(client.loggedIn, false);
          assert.equal(await boundUser(client), 0);
          const again = await client.request(LoginCmd.LOGOUT, {});
          assert.equal(again.state, State.NOT_LOGGED_IN);
          const other = track(await connectClient(url));
          const refused = await other.request(LoginCmd.LOGIN_BY_TOKEN, { token: login.token });
          assert.equal(refused.state, State.FAIL);
        });

        await t.step(`${transport}: change password`, async () => {
          const { client, username, userId, login } = track(await loggedIn(url, "chpw"));
          const wrong = await client.request(LoginCmd.CHANGE_PW, {
            password: "wrong1234",
            newPassword: "newpass123",
          });
          assert.equal(wrong.state, State.FAIL);
          assert.equal(wrong.msg, "The password is wrong");
          const same = await client.request(LoginCmd.CHANGE_PW, {
            password: PASSWORD,
            newPassword: PASSWORD,
          });
          assert.equal(same.state, State.FAIL);
          const changed = await client.changePassword({
            password: PASSWORD,
            newPassword: "newpass123",
          });
          assert.match(changed.token, /^[A-Za-z0-9_-]{43}$/);
          issued.add(changed.token);
          assert.notEqual(changed.token, login.token);
          assert.equal(client.token, changed.token);
          assert.equal(await boundUser(client), userId, "the session stays logged in");
          const other = track(await connectClient(url));
          const oldToken = await other.request(LoginCmd.LOGIN_BY_TOKEN, { token: login.token });
          assert.equal(oldToken.state, State.FAIL, "earlier tokens are revoked");
          const oldPassword = await other.request(LoginCmd.LOGIN, { username, password: PASSWORD });
          assert.equal(oldPassword.state, State.FAIL);
          assert.equal((await other.loginByToken(changed.token)).userId, userId);
          assert.equal((await other.login({ username, password: "newpass123" })).userId, userId);
        });

        await t.step(`${transport}: delete account`, async () => {
          const { client, username, userId, login } = track(await loggedIn(url, "del"));
          const wrong = await client.request(LoginCmd.DELETE_ACCOUNT, { password: "wrong1234" });
          assert.equal(wrong.state, State.FAIL);
          assert.equal(await boundUser(client), userId, "still logged in");
          await client.deleteAccount({ password: PASSWORD });
          assert.equal(client.userId, 0);
          assert.equal(await boundUser(client), 0);
          const other = track(await connectClient(url));
          const gone = await other.request(LoginCmd.LOGIN, { username, password: PASSWORD });
          assert.equal(gone.state, State.FAIL);
          const token = await other.request(LoginCmd.LOGIN_BY_TOKEN, { token: login.token });
          assert.equal(token.state, State.FAIL);
          const again = await other.register({ username, password: PASSWORD });
          assert.notEqual(again.userId, userId, "an id is never reused");
        });

        await t.step(
          `${transport}: malformed fields are BAD_REQUEST naming the field`,
          async () => {
            const anonymous = track(await connectClient(url));
            const { client, username, userId } = track(await loggedIn(url, "bad"));
            const badCredentials: unknown[] = [
              undefined,
              123,
              null,
              true,
              [],
              ["secret123"],
              {},
              "",
              "abc12",
              "a".repeat(17),
              "pässwort12",
              "' OR 1=1 --",
              "admin'--",
              "x'); DROP TABLE accounts; --",
              "abc 12345",
              "abc\u000012345",
              "abc%12345",
            ];
            const cases: Array<{ client: GateClient; cmd: string; field: string; valid: object }> =
              [
                {
                  client: anonymous,
                  cmd: LoginCmd.REGISTER,
                  field: "username",
                  valid: { password: PASSWORD },
                },
                {
                  client: anonymous,
                  cmd: LoginCmd.REGISTER,
                  field: "password",
                  valid: { username: uniqueName("x") },
                },
                {
                  client: anonymous,
                  cmd: LoginCmd.LOGIN,
                  field: "username",
                  valid: { password: PASSWORD },
                },
                { client: anonymous, cmd: LoginCmd.LOGIN, field: "password", valid: { username } },
                {
                  client,
                  cmd: LoginCmd.CHANGE_PW,
                  field: "password",
                  valid: { newPassword: "newpass123" },
                },
                {
                  client,
                  cmd: LoginCmd.CHANGE_PW,
                  field: "newPassword",
                  valid: { password: PASSWORD },
                },
                { client, cmd: LoginCmd.DELETE_ACCOUNT, field: "password", valid: {} },
              ];
            for (const c of cases) {
              for (const value of badCredentials) {
                const data: Record<string, unknown> = { ...c.valid };
                if (value !== undefined) data[c.field] = value;
                const response = await c.client.request(c.cmd, data);
                const what = `${c.cmd} ${c.field}=${JSON.stringify(value)}`;
                assert.equal(response.state, State.BAD_REQUEST, what);
                assert.match(response.msg!, new RegExp(`^Field ${c.field} [^.]*[^.]$`), what);
              }
            }
            const badTokens: unknown[] = [
              undefined,
              7,
              null,
              {},
              [],
              "",
              "' OR 1=1 --",
              "A".repeat(44),
            ];
            for (const token of badTokens) {
              const response = await anonymous.request(
                LoginCmd.LOGIN_BY_TOKEN,
                token === undefined ? {} : { token },
              );
              assert.equal(response.state, State.BAD_REQUEST, JSON.stringify(token));
              assert.match(response.msg!, /^Field token /);
            }
            // (The client library sends a null data as {}.)
            for (const data of ["secret123", 5, [1, 2], true]) {
              for (const cmd of [LoginCmd.REGISTER, LoginCmd.LOGIN, LoginCmd.LOGIN_BY_TOKEN]) {
                const response = await anonymous.request(cmd, data);
                assert.equal(response.state, State.BAD_REQUEST, `${cmd} ${JSON.stringify(data)}`);
                assert.equal(response.msg, "Field data must be an object");
              }
            }
            // Nothing was harmed: the account is intact and still logged in.
            assert.equal(await boundUser(client), userId);
            const fresh = track(await connectClient(url));
            assert.equal((await fresh.login({ username, password: PASSWORD })).userId, userId);
          },
        );
      }

      await t.step("the client helpers throw ResponseError unless OK", async () => {
        const client = track(await connectClient(gate.wsUrl));
        await assert.rejects(
          client.login({ username: uniqueName("none"), password: PASSWORD }),
          (error) => error instanceof ResponseError && error.state === State.FAIL,
        );
        await assert.rejects(
          client.register({ username: "short", password: PASSWORD }),
          (error) => error instanceof ResponseError && error.state === State.BAD_REQUEST,
        );
        await assert.rejects(client.loginByToken(), TypeError);
      });
    } finally {
      for (const client of clients) client.close();
      await echo?.stop();
      if (login) assert.equal(await login.stop(), 0, "the login service exits 0 on SIGTERM");
      await gate.stop();
    }
    const lines = login!.lines.join("\n");
    assert.equal(lines.includes(PASSWORD), false, "no password in the log");
    assert.ok(issued.size > 10);
    for (const token of issued) assert.equal(lines.includes(token), false, "no token in the log");
  },
});
