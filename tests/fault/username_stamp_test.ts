/**
 * The gate stamps the bound user's username (`userName`) on every request it forwards, as the
 * login service gave it: against the real gate, login and group services, with raw clients that
 * forge `userName` in the envelope (and `name` in the group commands). A forger cannot change how
 * it appears to others; the stamped username shows in group members and pushes; after logout or
 * account deletion a request carries none; a password change keeps it; over WebSocket and TCP.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ServiceClient, type ServiceRequest } from "../../client/mod.ts";
import { GateCmd, GroupCmd, LoginCmd, State } from "../../shared/mod.ts";
import type { GroupJoinAnswer } from "../../shared/group_messages.ts";
import { readServiceKey } from "../../server/service_key.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { openRaw, RawClient, type RawConnection } from "../helpers/raw.ts";
import { INTEGRATION, startGate, TRANSPORTS } from "../helpers/suite.ts";

/** The command the probe link serves: it answers what the gate stamped. */
const WHOAMI = "test_whoami";

/** A raw client (any field in its envelopes) with a fresh username of its own. */
class RawUser extends RawClient {
  readonly username: string;

  private constructor(conn: RawConnection, username: string) {
    super(conn, { label: username });
    this.username = username;
  }

  /** Opens a raw connection to `url` for a new user. */
  static async openUser(url: string): Promise<RawUser> {
    return new RawUser(await openRaw(url), uniqueName("user"));
  }

  /** Registers and logs in with its own username. */
  async logIn(): Promise<void> {
    const credentials = { username: this.username, password: TEST_PASSWORD };
    await this.ok(LoginCmd.REGISTER, credentials);
    await this.ok(LoginCmd.LOGIN, credentials);
  }
}

Deno.test({
  name: "username stamp: the login's username reaches services, forged ones never do",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const login = await startLogin(gate);
    const group = await startGroup(gate);
    const probe = new ServiceClient({
      url: gate.wsUrl,
      sskey: await readServiceKey(gate.dataDir),
      name: "whoami-probe",
      type: "probe",
    });
    probe.handle(WHOAMI, (request: ServiceRequest) => ({
      userId: request.userId,
      userName: request.userName ?? null,
    }));
    const users: RawUser[] = [];
    try {
      await probe.start();
      for (const transport of TRANSPORTS) {
        await t.step(`over ${transport}`, async () => {
          const open = async () => {
            const user = await RawUser.openUser(gate.url(transport));
            users.push(user);
            return user;
          };
          const [alice, bob, mallory] = [await open(), await open(), await open()];

          // The gate checks the username a binding names, by the username rule.
          for (const username of ["ab", "has space1", "x".repeat(17), 7]) {
            const bad = await probe.request(GateCmd.USER_LOGIN, {
              clientId: 1,
              userId: 5,
              username,
            });
            assert.equal(bad.state, State.BAD_REQUEST);
            assert.equal(
              bad.msg,
              "Field username must be 6 to 16 letters (a-z, A-Z) and digits (0-9)",
            );
          }

          // Not logged in: a forged userName is removed.
          assert.deepEqual(
            await mallory.ok(WHOAMI, {}, { userName: alice.username, userId: 99 }),
            { userId: 0, userName: null },
          );

          for (const user of [alice, bob, mallory]) await user.logIn();
          // Logged in: the login's username, whatever the client wrote.
          const me = await mallory.ok(WHOAMI, {}, { userName: alice.username });
          assert.equal(me.userName, mallory.username);
          assert.ok(me.userId > 0);
          assert.equal((await alice.ok(WHOAMI)).userName, alice.username);

          // The group shows the stamped usernames in the answers and every push.
          const created = await alice.ok(GroupCmd.CREATE, { key: "k" }, { userName: "someone1" });
          assert.equal(created.owner.name, alice.username);
          const { groupId } = created;
          const joined: GroupJoinAnswer = await bob.ok(GroupCmd.JOIN, { groupId, key: "k" });
          assert.deepEqual(joined.members.map((m) => m.name), [alice.username, bob.username]);
          assert.equal(
            (await alice.push(GroupCmd.JOINED, (d) => d.groupId === groupId)).name,
            bob.username,
          );

          // A user that names itself is refused, and is not a member after.
          const named = await mallory.call(
            GroupCmd.JOIN,
            { groupId, key: "k", name: alice.username },
          );
          assert.equal(named.state, State.BAD_REQUEST);
          assert.equal(
            named.msg,
            "Field name is for service links only: a user is shown by the username it logged in with",
          );
          // A forged userName in the envelope changes nothing: others see mallory's username.
          const forged = { userName: alice.username };
          await mallory.ok(GroupCmd.JOIN, { groupId, key: "k" }, forged);
          const seen = await bob.push(
            GroupCmd.JOINED,
            (d) => d.groupId === groupId && d.userId === me.userId,
          );
          assert.equal(seen.name, mallory.username);
          await mallory.ok(GroupCmd.SEND, { groupId, data: "I am alice" }, forged);
          for (const other of [alice, bob]) {
            const message = await other.push(GroupCmd.MSG, (d) => d.data === "I am alice");
            assert.equal(message.fromName, mallory.username);
            assert.equal(message.fromUserId, me.userId);
          }
          const members = await alice.ok(GroupCmd.MEMBERS, { groupId });
          assert.deepEqual(
            members.members.map((m: { name: string }) => m.name),
            [alice.username, bob.username, mallory.username],
          );

          // A password change keeps the username; the owner's dismissal carries its name.
          await bob.ok(LoginCmd.CHANGE_PW, { password: TEST_PASSWORD, newPassword: "secret456" });
          assert.equal((await bob.ok(WHOAMI, {}, forged)).userName, bob.username);
          await alice.ok(GroupCmd.DISMISS, { groupId }, { userName: bob.username });
          assert.equal(
            (await bob.push(GroupCmd.DISMISSED, (d) => d.groupId === groupId)).byName,
            alice.username,
          );

          // After logout a request carries no userName, forged or not.
          await mallory.ok(LoginCmd.LOGOUT, {});
          assert.deepEqual(await mallory.ok(WHOAMI, {}, forged), { userId: 0, userName: null });
          // Nor after the account is deleted.
          await bob.ok(LoginCmd.DELETE_ACCOUNT, { password: "secret456" });
          assert.deepEqual(await bob.ok(WHOAMI, {}, forged), { userId: 0, userName: null });
          // Logging in by token binds the username again.
          const token = (await alice.ok(LoginCmd.LOGIN, {
            username: alice.username,
            password: TEST_PASSWORD,
          })).token;
          const again = await open();
          await again.ok(LoginCmd.LOGIN_BY_TOKEN, { token });
          assert.equal((await again.ok(WHOAMI, {}, forged)).userName, alice.username);
        });
      }
    } finally {
      for (const user of users) user.close();
      probe.stop();
      await group.stop();
      await login.stop();
      await gate.stop();
    }
  },
});
