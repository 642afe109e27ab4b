import assert from "node:assert/strict";
import { type GateClient, ServiceClient, State } from "../../client/mod.ts";
import { GroupCmd } from "../../shared/mod.ts";
import { readServiceKey } from "../../server/service_key.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin } from "../helpers/login.ts";
import { ROOT_DIR, type RunningProcess, taskArgs } from "../helpers/process.ts";
import {
  connectClient,
  type GateProcess,
  INTEGRATION,
  startGate,
  type Transport,
  waitFor,
} from "../helpers/suite.ts";

interface Owner {
  userId: number;
  clientId: number;
  /** The username the gate stamped from the login. */
  name?: string;
}

interface Member extends Owner {
  joinedAt: number;
}

interface Created {
  groupId: string;
  key: string;
  owner: Owner;
}

interface Members {
  groupId: string;
  owner: Owner;
  members: Member[];
}

interface Listed {
  groups: Array<{ groupId: string; owner: Owner; members: number; isOwner: boolean }>;
}

interface Pushed {
  cmd: string;
  data: Record<string, unknown>;
}

const PASSWORD = "secret123";

/** A logged-in user on its own connection, with every group push it receives, in order. */
class User {
  readonly client: GateClient;
  readonly name: string;
  readonly pushes: Pushed[] = [];
  /** This connection's clientId, learned from a group answer. */
  clientId = 0;

  constructor(client: GateClient, name: string) {
    this.client = client;
    this.name = name;
    for (const cmd of [GroupCmd.MSG, GroupCmd.JOINED, GroupCmd.LEFT, GroupCmd.DISMISSED]) {
      client.on<Record<string, unknown>>(cmd, (data) => this.pushes.push({ cmd, data }));
    }
  }

  get userId(): number {
    return this.client.userId;
  }

  /** How the group service names this member: its user, connection and username. */
  get who(): Owner {
    return { userId: this.userId, clientId: this.clientId, name: this.name };
  }

  /** The pushes of one command received so far. */
  of(cmd: string): Array<Record<string, unknown>> {
    return this.pushes.filter((p) => p.cmd === cmd).map((p) => p.data);
  }

  request<T>(cmd: string, data: unknown = {}) {
    return this.client.request<T>(cmd, data);
  }

  /** Waits for `count` pushes of `cmd`. */
  async waitFor(cmd: string, count = 1): Promise<void> {
    await waitFor(() => this.of(cmd).length >= count, {
      what: `${count} ${cmd} push(es) to ${this.name}`,
    });
  }

  /**
   * A round trip through the group service. The service writes a push to the gate before any
   * later response, and a single gate handles a link's messages in order and delivers both on
   * this one connection in order: once this resolves, every push the service sent this client
   * earlier has arrived. (No sleeping: "nothing else arrived" is checked after a fence.)
   */
  async fence(): Promise<void> {
    const response = await this.client.request(GroupCmd.LIST);
    assert.equal(response.state, State.OK, response.msg);
  }

  close(): void {
    this.client.close();
  }
}

/** Connects, registers an account and logs in. */
async function user(
  gate: GateProcess,
  name: string,
  transport: Transport = "ws",
): Promise<User> {
  const client = await connectClient(gate.url(transport));
  await client.register({ username: name, password: PASSWORD });
  await client.login({ username: name, password: PASSWORD });
  return new User(client, name);
}

async function ok<T>(from: User, cmd: string, data: unknown = {}): Promise<T> {
  const response = await from.request<T>(cmd, data);
  assert.equal(response.state, State.OK, `${from.name} ${cmd}: ${response.msg}`);
  return response.data;
}

async function refused(
  from: { request(cmd: string, data: unknown): Promise<{ state: number; msg?: string }> },
  options: { cmd: string; data?: unknown; state: number; msg: RegExp },
): Promise<void> {
  const response = await from.request(options.cmd, options.data ?? {});
  assert.equal(response.state, options.state, `${options.cmd}: ${response.msg}`);
  assert.match(response.msg ?? "", options.msg);
}

/** Runs `deno task group` with flags and returns its exit code and output. */
async function runGroup(args: string[]): Promise<{ code: number; text: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs("group"), ...args],
    cwd: ROOT_DIR,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    text: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

Deno.test({
  name: "group: session groups through a real gate, login and group service",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    const processes: RunningProcess[] = [];
    const users: User[] = [];
    const newUser = async (name: string, transport: Transport = "ws") => {
      const u = await user(gate, name, transport);
      users.push(u);
      return u;
    };
    let group: RunningProcess | undefined;
    try {
      processes.push(await startLogin(gate));
      // The grace period off: a client that disconnects leaves at once (group_grace_test.ts
      // covers the grace period).
      group = await startGroup(gate, { flags: ["--reconnect-grace-ms", "0"] });

      const alice = await newUser("alice1");
      const bob = await newUser("bobby1", "tcp");
      const carol = await newUser("carol1");
      const dave = await newUser("davey1", "tcp");
      let room: Created;

      await t.step("NOT_LOGGED_IN for an anonymous connection", async () => {
        const anonymous = await connectClient(gate.wsUrl);
        try {
          for (const cmd of [GroupCmd.CREATE, GroupCmd.JOIN, GroupCmd.LIST, GroupCmd.SEND]) {
            await refused(anonymous, {
              cmd,
              data: { groupId: "room", key: "k", data: 1 },
              state: State.NOT_LOGGED_IN,
              msg: /Log in/,
            });
          }
        } finally {
          anonymous.close();
        }
      });

      await t.step("create assigns an id and a key, or keeps the given ones", async () => {
        room = await ok<Created>(alice, GroupCmd.CREATE);
        assert.match(room.groupId, /^[A-Za-z0-9_-]{16}$/);
        assert.match(room.key, /^[A-Za-z0-9_-]{32}$/);
        assert.equal(room.owner.userId, alice.userId);
        alice.clientId = room.owner.clientId;
        const named = await ok<Created>(bob, GroupCmd.CREATE, { groupId: "lobby_1", key: "pw" });
        assert.deepEqual(named, {
          groupId: "lobby_1",
          key: "pw",
          owner: { userId: bob.userId, clientId: named.owner.clientId, name: bob.name },
        });
        bob.clientId = named.owner.clientId;
        await refused(carol, {
          cmd: GroupCmd.CREATE,
          data: { groupId: "lobby_1" },
          state: State.FAIL,
          msg: /^Group lobby_1 already exists$/,
        });
        await refused(carol, {
          cmd: GroupCmd.CREATE,
          data: { groupId: "no spaces" },
          state: State.BAD_REQUEST,
          msg: /^Field groupId must be/,
        });
        assert.notEqual(
          (await ok<Created>(carol, GroupCmd.CREATE)).key,
          room.key,
          "keys are random",
        );
      });

      await t.step("join needs the right key; members already in are told", async () => {
        await refused(bob, {
          cmd: GroupCmd.JOIN,
          data: { groupId: room.groupId, key: room.key.slice(1) },
          state: State.FORBIDDEN,
          msg: /key/,
        });
        await refused(bob, {
          cmd: GroupCmd.JOIN,
          data: { groupId: "nope", key: room.key },
          state: State.FAIL,
          msg: /^No group nope$/,
        });
        const joined = await ok<Members & { joined: boolean }>(bob, GroupCmd.JOIN, {
          groupId: room.groupId,
          key: room.key,
        });
        assert.equal(joined.joined, true);
        assert.deepEqual(joined.members.map((m) => m.userId), [alice.userId, bob.userId]);
        await alice.waitFor(GroupCmd.JOINED);
        assert.deepEqual(alice.of(GroupCmd.JOINED)[0], {
          groupId: room.groupId,
          userId: bob.userId,
          clientId: bob.clientId,
          name: bob.name,
          joinedAt: joined.members[1].joinedAt,
          members: 2,
        });
        const again = await ok<{ joined: boolean }>(bob, GroupCmd.JOIN, {
          groupId: room.groupId,
          key: room.key,
        });
        assert.equal(again.joined, false, "joining twice is OK and changes nothing");
        const third = await ok<Members>(carol, GroupCmd.JOIN, {
          groupId: room.groupId,
          key: room.key,
        });
        carol.clientId = third.members.find((m) => m.userId === carol.userId)!.clientId;
        await alice.waitFor(GroupCmd.JOINED, 2);
        await bob.waitFor(GroupCmd.JOINED);
        await alice.fence();
        await bob.fence();
        await carol.fence();
        assert.deepEqual(alice.of(GroupCmd.JOINED).map((d) => d.userId), [
          bob.userId,
          carol.userId,
        ]);
        assert.deepEqual(bob.of(GroupCmd.JOINED).map((d) => d.userId), [carol.userId]);
        assert.deepEqual(carol.of(GroupCmd.JOINED), [], "the joiner gets the answer, no push");
      });

      await t.step("a broadcast reaches every member once and no one else", async () => {
        for (const u of users) u.pushes.length = 0;
        const payload = { text: "héllo", n: [1, 2, 3] };
        const sent = await ok<{ groupId: string; time: number; reached: number }>(
          carol,
          GroupCmd.SEND,
          { groupId: room.groupId, data: payload },
        );
        assert.equal(sent.reached, 2, "one push reached both other members");
        const expected = {
          groupId: room.groupId,
          fromUserId: carol.userId,
          fromClientId: carol.clientId,
          fromName: carol.name,
          data: payload,
          time: sent.time,
        };
        await alice.waitFor(GroupCmd.MSG);
        await bob.waitFor(GroupCmd.MSG);
        for (const u of [alice, bob, carol, dave]) await u.fence();
        assert.deepEqual(alice.of(GroupCmd.MSG), [expected]);
        assert.deepEqual(bob.of(GroupCmd.MSG), [expected]);
        assert.deepEqual(carol.pushes, [], "the sender gets the answer, not the push");
        assert.deepEqual(dave.pushes, [], "an outsider gets nothing");
      });

      await t.step("members and list need membership; outsiders are FORBIDDEN", async () => {
        const members = await ok<Members>(bob, GroupCmd.MEMBERS, { groupId: room.groupId });
        assert.equal(members.groupId, room.groupId);
        assert.deepEqual(members.owner, alice.who);
        assert.deepEqual(
          members.members.map(({ userId, clientId, name }) => ({ userId, clientId, name })),
          [alice, bob, carol].map((u) => u.who),
        );
        for (const m of members.members) assert.equal(typeof m.joinedAt, "number");
        await refused(dave, {
          cmd: GroupCmd.MEMBERS,
          data: { groupId: room.groupId },
          state: State.FORBIDDEN,
          msg: /members/,
        });
        await refused(dave, {
          cmd: GroupCmd.SEND,
          data: { groupId: room.groupId, data: "let me in" },
          state: State.FORBIDDEN,
          msg: /members/,
        });
        const listed = await ok<Listed>(alice, GroupCmd.LIST);
        assert.deepEqual(listed.groups, [{
          groupId: room.groupId,
          owner: alice.who,
          members: 3,
          isOwner: true,
        }]);
        const bobs = await ok<Listed>(bob, GroupCmd.LIST);
        assert.deepEqual(
          bobs.groups.map((g) => [g.groupId, g.isOwner]),
          [["lobby_1", true], [room.groupId, false]],
        );
        assert.deepEqual((await ok<Listed>(dave, GroupCmd.LIST)).groups, []);
      });

      await t.step("leave tells the others, and the leaver hears no more", async () => {
        for (const u of users) u.pushes.length = 0;
        assert.deepEqual(await ok(carol, GroupCmd.LEAVE, { groupId: room.groupId }), {
          groupId: room.groupId,
          ended: false,
        });
        const expected = {
          groupId: room.groupId,
          userId: carol.userId,
          clientId: carol.clientId,
          name: carol.name,
          reason: "left",
          owner: alice.who,
          members: 2,
        };
        await alice.waitFor(GroupCmd.LEFT);
        await bob.waitFor(GroupCmd.LEFT);
        assert.deepEqual(alice.of(GroupCmd.LEFT), [expected]);
        assert.deepEqual(bob.of(GroupCmd.LEFT), [expected]);
        await refused(carol, {
          cmd: GroupCmd.LEAVE,
          data: { groupId: room.groupId },
          state: State.FAIL,
          msg: /not a member/,
        });
        const sent = await ok<{ reached: number }>(bob, GroupCmd.SEND, {
          groupId: room.groupId,
          data: "after carol",
        });
        assert.equal(sent.reached, 1);
        await alice.waitFor(GroupCmd.MSG);
        await carol.fence();
        assert.deepEqual(carol.pushes, []);
      });

      await t.step("a client that disconnects leaves its groups", async () => {
        for (const u of users) u.pushes.length = 0;
        // Bob is in two groups: the room, and lobby_1 which he owns with Dave in it.
        await ok(dave, GroupCmd.JOIN, { groupId: "lobby_1", key: "pw" });
        dave.clientId = (await ok<Members>(dave, GroupCmd.MEMBERS, { groupId: "lobby_1" }))
          .members[1].clientId;
        bob.close();
        users.splice(users.indexOf(bob), 1);
        await alice.waitFor(GroupCmd.LEFT);
        await dave.waitFor(GroupCmd.LEFT);
        assert.deepEqual(alice.of(GroupCmd.LEFT), [{
          groupId: room.groupId,
          userId: bob.userId,
          clientId: bob.clientId,
          name: bob.name,
          reason: "disconnected",
          owner: alice.who,
          members: 1,
        }]);
        assert.deepEqual(dave.of(GroupCmd.LEFT), [{
          groupId: "lobby_1",
          userId: bob.userId,
          clientId: bob.clientId,
          name: bob.name,
          reason: "disconnected",
          owner: dave.who,
          members: 1,
        }], "the owner disconnected: Dave owns lobby_1 now");
        const members = await ok<Members>(alice, GroupCmd.MEMBERS, { groupId: room.groupId });
        assert.deepEqual(members.members.map((m) => m.userId), [alice.userId]);
        assert.deepEqual((await ok<Listed>(dave, GroupCmd.LIST)).groups, [{
          groupId: "lobby_1",
          owner: dave.who,
          members: 1,
          isOwner: true,
        }]);
      });

      await t.step("owner hand-over to the earliest member, then dismiss", async () => {
        for (const u of users) u.pushes.length = 0;
        const erin = await newUser("erinn1");
        const hall = await ok<Created>(alice, GroupCmd.CREATE, { groupId: "hall" });
        for (const u of [carol, dave, erin]) {
          const joined = await ok<Members>(u, GroupCmd.JOIN, { groupId: "hall", key: hall.key });
          u.clientId = joined.members.at(-1)!.clientId;
        }
        await ok(alice, GroupCmd.LEAVE, { groupId: "hall" });
        for (const u of [carol, dave, erin]) await u.waitFor(GroupCmd.LEFT);
        const newOwner = carol.who;
        for (const u of [carol, dave, erin]) {
          assert.deepEqual(u.of(GroupCmd.LEFT).map((d) => [d.userId, d.owner]), [
            [alice.userId, newOwner],
          ]);
        }
        const members = await ok<Members>(erin, GroupCmd.MEMBERS, { groupId: "hall" });
        assert.deepEqual(members.owner, newOwner);
        const carols = await ok<Listed>(carol, GroupCmd.LIST);
        assert.equal(carols.groups.find((g) => g.groupId === "hall")?.isOwner, true);

        await refused(dave, {
          cmd: GroupCmd.DISMISS,
          data: { groupId: "hall" },
          state: State.FORBIDDEN,
          msg: /owner/,
        });
        await refused(alice, {
          cmd: GroupCmd.DISMISS,
          data: { groupId: "hall" },
          state: State.FORBIDDEN,
          msg: /owner/,
        });
        assert.deepEqual(await ok(carol, GroupCmd.DISMISS, { groupId: "hall" }), {
          groupId: "hall",
          members: 3,
        });
        await dave.waitFor(GroupCmd.DISMISSED);
        await erin.waitFor(GroupCmd.DISMISSED);
        await carol.fence();
        const told = {
          groupId: "hall",
          byUserId: carol.userId,
          byClientId: carol.clientId,
          byName: carol.name,
        };
        assert.deepEqual(dave.of(GroupCmd.DISMISSED), [told]);
        assert.deepEqual(erin.of(GroupCmd.DISMISSED), [told]);
        assert.deepEqual(carol.of(GroupCmd.DISMISSED), [], "the owner gets the answer");
        await refused(erin, {
          cmd: GroupCmd.MEMBERS,
          data: { groupId: "hall" },
          state: State.FAIL,
          msg: /^No group hall$/,
        });
        assert.deepEqual((await ok<Listed>(erin, GroupCmd.LIST)).groups, []);
      });

      await t.step("the last member leaving ends the group", async () => {
        assert.deepEqual(await ok(alice, GroupCmd.LEAVE, { groupId: room.groupId }), {
          groupId: room.groupId,
          ended: true,
        });
        await refused(carol, {
          cmd: GroupCmd.JOIN,
          data: { groupId: room.groupId, key: room.key },
          state: State.FAIL,
          msg: /^No group /,
        });
      });

      await t.step(
        "a connection that logs out leaves its groups, and its next user hears none of them",
        async () => {
          const frank = await newUser("frank1");
          const erin = users.find((u) => u.name === "erinn1")!;
          const swap = await ok<Created>(frank, GroupCmd.CREATE, { groupId: "swap" });
          const joined = await ok<Members>(erin, GroupCmd.JOIN, { groupId: "swap", key: swap.key });
          erin.clientId = joined.members[1].clientId;
          const frankId = frank.userId;
          erin.pushes.length = 0;
          await frank.client.logout();
          // No grace period here: the logout is a departure at once (the gate's unbind event).
          await erin.waitFor(GroupCmd.LEFT);
          assert.deepEqual(erin.of(GroupCmd.LEFT)[0].userId, frankId);
          assert.deepEqual(erin.of(GroupCmd.LEFT)[0].reason, "disconnected");
          assert.deepEqual(erin.of(GroupCmd.LEFT)[0].owner, erin.who);
          await refused(frank, {
            cmd: GroupCmd.SEND,
            data: { groupId: "swap", data: 1 },
            state: State.NOT_LOGGED_IN,
            msg: /Log in/,
          });
          await frank.client.register({ username: "grace1", password: PASSWORD });
          await frank.client.login({ username: "grace1", password: PASSWORD });
          assert.notEqual(frank.userId, frankId);
          await refused(frank, {
            cmd: GroupCmd.SEND,
            data: { groupId: "swap", data: 1 },
            state: State.FORBIDDEN,
            msg: /members/,
          });
          assert.deepEqual((await ok<Listed>(frank, GroupCmd.LIST)).groups, []);
          await refused(frank, {
            cmd: GroupCmd.LEAVE,
            data: { groupId: "swap" },
            state: State.FAIL,
            msg: /not a member/,
          });
          // The connection may join as its new user: a new member, last in line.
          const again = await ok<Members>(frank, GroupCmd.JOIN, { groupId: "swap", key: swap.key });
          assert.deepEqual(again.members.map((m) => m.userId), [erin.userId, frank.userId]);
          await ok(frank, GroupCmd.LEAVE, { groupId: "swap" });
          await erin.waitFor(GroupCmd.LEFT, 2);
        },
      );

      await t.step("a service link may create a group and send to it", async () => {
        const service = new ServiceClient({
          url: gate.wsUrl,
          sskey: await readServiceKey(gate.dataDir),
          name: "group-test-service",
        });
        try {
          await service.start();
          const created = await service.request<Created>(GroupCmd.CREATE, { groupId: "match" });
          assert.equal(created.state, State.OK, created.msg);
          assert.equal(created.data.owner.userId, 0);
          for (const u of users) u.pushes.length = 0;
          await ok(dave, GroupCmd.JOIN, { groupId: "match", key: created.data.key });
          const sent = await service.request<{ reached: number }>(GroupCmd.SEND, {
            groupId: "match",
            data: { round: 1 },
          });
          assert.equal(sent.state, State.OK, sent.msg);
          assert.equal(sent.data.reached, 1);
          await dave.waitFor(GroupCmd.MSG);
          assert.deepEqual(dave.of(GroupCmd.MSG)[0].fromUserId, 0);
          assert.deepEqual(dave.of(GroupCmd.MSG)[0].data, { round: 1 });
        } finally {
          service.stop();
        }
      });

      await t.step("bad limit flags exit 2 naming the flag; --help exits 0", async () => {
        const zero = await runGroup(["--max-members", "0"]);
        assert.equal(zero.code, 2);
        assert.match(zero.text, /Flag --max-members must be at least 1/);
        const big = await runGroup(["--max-data-bytes", "99999999"]);
        assert.equal(big.code, 2);
        assert.match(big.text, /Flag --max-data-bytes must be at most/);
        const help = await runGroup(["--help"]);
        assert.equal(help.code, 0);
        assert.match(help.text, /--max-groups-per-user/);
        assert.match(help.text, /--reconnect-grace-ms N .*\n.*\(30000; 0 turns it off\)/);
        const grace = await runGroup(["--reconnect-grace-ms", "86400001"]);
        assert.equal(grace.code, 2);
        assert.match(grace.text, /Flag --reconnect-grace-ms must be from 0 \(off\) to 86400000/);
      });

      await t.step("limits: members per group, groups per user, size of data", async () => {
        assert.equal(await group!.stop(), 0, "the group service exits 0 on SIGTERM");
        group = await startGroup(gate, {
          flags: ["--max-members", "2", "--max-groups-per-user", "1", "--max-data-bytes", "32"],
        });
        // The groups lived in the old process's memory.
        assert.deepEqual((await ok<Listed>(dave, GroupCmd.LIST)).groups, []);
        const small = await ok<Created>(carol, GroupCmd.CREATE, { groupId: "small" });
        await ok(dave, GroupCmd.JOIN, { groupId: "small", key: small.key });
        await refused(alice, {
          cmd: GroupCmd.JOIN,
          data: { groupId: "small", key: small.key },
          state: State.FAIL,
          msg: /full/,
        });
        await refused(carol, {
          cmd: GroupCmd.CREATE,
          state: State.FAIL,
          msg: /most groups allowed \(1\)/,
        });
        await ok(alice, GroupCmd.CREATE, { groupId: "other" });
        await refused(alice, {
          cmd: GroupCmd.JOIN,
          data: { groupId: "small", key: small.key },
          state: State.FAIL,
          msg: /full/,
        });
        await ok(dave, GroupCmd.LEAVE, { groupId: "small" });
        await refused(alice, {
          cmd: GroupCmd.JOIN,
          data: { groupId: "small", key: small.key },
          state: State.FAIL,
          msg: /most groups allowed \(1\)/,
        });
        await ok(carol, GroupCmd.SEND, { groupId: "small", data: "x".repeat(30) });
        await refused(carol, {
          cmd: GroupCmd.SEND,
          data: { groupId: "small", data: "x".repeat(31) },
          state: State.BAD_REQUEST,
          msg: /^Field data must be at most 32 bytes as JSON$/,
        });
      });
    } finally {
      for (const u of users) u.close();
      if (group) assert.equal(await group.stop(), 0);
      for (const p of processes) await p.stop();
      assert.equal(await gate.stop(), 0);
    }
  },
});
