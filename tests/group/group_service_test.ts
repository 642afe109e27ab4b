import assert from "node:assert/strict";
import { ServiceError, type ServiceRequest } from "../../client/mod.ts";
import { GroupCmd, State } from "../../shared/mod.ts";
import { eventLog } from "../helpers/event_log.ts";
import { GroupRegistry } from "../../server/group/group_registry.ts";
import { type GroupGate, GroupService } from "../../server/group/group_service.ts";

interface Push {
  clientIds: number[];
  cmd: string;
  data: Record<string, unknown>;
}

/** A service over a fake gate that records every push. */
function setup(options: { maxDataBytes?: number; failPush?: boolean } = {}) {
  const pushes: Push[] = [];
  const { log, lines } = eventLog();
  const gate: GroupGate = {
    push(clientIds, cmd, data) {
      if (options.failPush) return Promise.reject(new Error("connection lost"));
      pushes.push({ clientIds, cmd, data: data as Record<string, unknown> });
      return Promise.resolve(clientIds.length);
    },
  };
  const registry = new GroupRegistry({ limits: { maxMembers: 100, maxGroupsPerUser: 10 } });
  const service = new GroupService({
    registry,
    gate,
    log,
    maxDataBytes: options.maxDataBytes ?? 64,
    now: () => 5000,
  });
  return { service, registry, pushes, lines };
}

function req(
  from: { clientId: number; userId?: number; userName?: string; isServiceLink?: boolean },
  cmd: string,
  data: unknown = {},
): ServiceRequest {
  return {
    cmd,
    data,
    clientId: from.clientId,
    userId: from.userId ?? 0,
    userName: from.userName,
    isServiceLink: from.isServiceLink ?? false,
  };
}

/** Asserts that `fn` throws (or rejects with) a ServiceError with `state` and exactly `msg`. */
async function refuses(fn: () => unknown, state: number, msg: string | RegExp): Promise<void> {
  await assert.rejects(async () => await fn(), (error) => {
    assert.ok(error instanceof ServiceError, String(error));
    assert.equal(error.state, state, error.message);
    if (typeof msg === "string") assert.equal(error.message, msg);
    else assert.match(error.message, msg);
    return true;
  });
}

const alice = { clientId: 1, userId: 10 };
const bob = { clientId: 2, userId: 20 };
const carol = { clientId: 3, userId: 30 };
const anonymous = { clientId: 4 };
const link = { clientId: 5, isServiceLink: true };

Deno.test("group service: anonymous connections are NOT_LOGGED_IN for every command", async () => {
  const { service } = setup();
  const calls: Array<[string, (r: ServiceRequest) => unknown]> = [
    [GroupCmd.CREATE, (r) => service.create(r)],
    [GroupCmd.JOIN, (r) => service.join(r)],
    [GroupCmd.LEAVE, (r) => service.leave(r)],
    [GroupCmd.SEND, (r) => service.send(r)],
    [GroupCmd.MEMBERS, (r) => service.members(r)],
    [GroupCmd.DISMISS, (r) => service.dismiss(r)],
    [GroupCmd.LIST, (r) => service.list(r)],
  ];
  for (const [cmd, call] of calls) {
    await refuses(() => call(req(anonymous, cmd, { groupId: "g" })), State.NOT_LOGGED_IN, /Log in/);
  }
});

Deno.test("group service: a service link may create and its userId counts as 0", () => {
  const { service } = setup();
  const created = service.create(req({ ...link, userId: 77 }, GroupCmd.CREATE, {}));
  assert.deepEqual(created.owner, { userId: 0, clientId: 5 });
});

Deno.test("group service: every field is checked with a sentence naming it", async () => {
  const { service } = setup();
  const cases: Array<[() => unknown, string]> = [
    [() => service.create(req(alice, GroupCmd.CREATE, [])), "Field data must be an object"],
    [
      () => service.create(req(alice, GroupCmd.CREATE, { groupId: "a b" })),
      "Field groupId must be 1 to 64 letters, digits, '_' or '-'",
    ],
    [
      () => service.create(req(alice, GroupCmd.CREATE, { groupId: "g".repeat(65) })),
      "Field groupId must be 1 to 64 letters, digits, '_' or '-'",
    ],
    [
      () => service.create(req(alice, GroupCmd.CREATE, { groupId: 7 })),
      "Field groupId must be 1 to 64 letters, digits, '_' or '-'",
    ],
    [
      () => service.create(req(alice, GroupCmd.CREATE, { key: "" })),
      "Field key must be a string of 1 to 128 characters",
    ],
    [
      () => service.create(req(alice, GroupCmd.CREATE, { key: "k".repeat(129) })),
      "Field key must be a string of 1 to 128 characters",
    ],
    [() => service.join(req(alice, GroupCmd.JOIN, { key: "k" })), "Field groupId is missing"],
    [() => service.join(req(alice, GroupCmd.JOIN, { groupId: "g" })), "Field key is missing"],
    [
      () => service.join(req(alice, GroupCmd.JOIN, { groupId: "g", key: 1 })),
      "Field key must be a string of 1 to 128 characters",
    ],
    [() => service.leave(req(alice, GroupCmd.LEAVE, {})), "Field groupId is missing"],
    [() => service.send(req(alice, GroupCmd.SEND, { groupId: "g" })), "Field data is missing"],
    [
      () => service.send(req(alice, GroupCmd.SEND, { groupId: "g", data: "x".repeat(63) })),
      "Field data must be at most 64 bytes as JSON",
    ],
    [() => service.members(req(alice, GroupCmd.MEMBERS, null)), "Field data must be an object"],
    [
      () => service.dismiss(req(alice, GroupCmd.DISMISS, { groupId: "" })),
      "Field groupId must be 1 to 64 letters, digits, '_' or '-'",
    ],
    [() => service.list(req(alice, GroupCmd.LIST, "x")), "Field data must be an object"],
  ];
  for (const [call, msg] of cases) await refuses(call, State.BAD_REQUEST, msg);
  // Null stands for a field not given.
  const created = service.create(req(alice, GroupCmd.CREATE, { groupId: null, key: null }));
  assert.equal(created.groupId.length, 16);
});

Deno.test("group service: data size counts UTF-8 bytes of the JSON", async () => {
  const { service } = setup({ maxDataBytes: 8 });
  const { groupId } = service.create(req(alice, GroupCmd.CREATE));
  // "éé" is 6 bytes with its quotes; "ééé" is 8; "éééé" is 10.
  assert.equal(
    (await service.send(req(alice, GroupCmd.SEND, { groupId, data: "ééé" }))).reached,
    0,
  );
  await refuses(
    () => service.send(req(alice, GroupCmd.SEND, { groupId, data: "éééé" })),
    State.BAD_REQUEST,
    "Field data must be at most 8 bytes as JSON",
  );
});

Deno.test("group service: join, send, leave and dismiss push once to the right members", async () => {
  const { service, pushes } = setup();
  const { groupId, key } = service.create(req(alice, GroupCmd.CREATE, { groupId: "room" }));
  const joined = service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  assert.equal(joined.joined, true);
  assert.deepEqual(joined.members.map((m) => m.clientId), [1, 2]);
  service.join(req(carol, GroupCmd.JOIN, { groupId, key }));
  assert.equal(service.join(req(carol, GroupCmd.JOIN, { groupId, key })).joined, false);
  assert.deepEqual(pushes.map((p) => [p.cmd, p.clientIds]), [
    [GroupCmd.JOINED, [1]],
    [GroupCmd.JOINED, [1, 2]],
  ]);
  assert.deepEqual(pushes[1].data, {
    groupId,
    userId: 30,
    clientId: 3,
    joinedAt: pushes[1].data.joinedAt,
    members: 3,
  });
  pushes.length = 0;

  const sent = await service.send(req(bob, GroupCmd.SEND, { groupId, data: { text: "hi" } }));
  assert.deepEqual(sent, { groupId, time: 5000, reached: 2 });
  assert.deepEqual(pushes, [{
    clientIds: [1, 3],
    cmd: GroupCmd.MSG,
    data: { groupId, fromUserId: 20, fromClientId: 2, data: { text: "hi" }, time: 5000 },
  }]);
  pushes.length = 0;

  assert.deepEqual(service.leave(req(alice, GroupCmd.LEAVE, { groupId })), {
    groupId,
    ended: false,
  });
  assert.deepEqual(pushes, [{
    clientIds: [2, 3],
    cmd: GroupCmd.LEFT,
    data: {
      groupId,
      userId: 10,
      clientId: 1,
      reason: "left",
      owner: { userId: 20, clientId: 2 },
      members: 2,
    },
  }]);
  pushes.length = 0;

  await refuses(
    () => service.dismiss(req(carol, GroupCmd.DISMISS, { groupId })),
    State.FORBIDDEN,
    "Only the owner of group room may dismiss it",
  );
  assert.deepEqual(service.dismiss(req(bob, GroupCmd.DISMISS, { groupId })), {
    groupId,
    members: 2,
  });
  assert.deepEqual(pushes, [{
    clientIds: [3],
    cmd: GroupCmd.DISMISSED,
    data: { groupId, byUserId: 20, byClientId: 2 },
  }]);
});

Deno.test("group service: a lone member's send pushes nothing; non-members are FORBIDDEN", async () => {
  const { service, pushes } = setup();
  const { groupId } = service.create(req(alice, GroupCmd.CREATE));
  assert.equal((await service.send(req(alice, GroupCmd.SEND, { groupId, data: 1 }))).reached, 0);
  assert.deepEqual(pushes, []);
  await refuses(
    () => service.send(req(bob, GroupCmd.SEND, { groupId, data: 1 })),
    State.FORBIDDEN,
    `Only members of group ${groupId} may send to it`,
  );
  await refuses(
    () => service.members(req(bob, GroupCmd.MEMBERS, { groupId })),
    State.FORBIDDEN,
    `Only members of group ${groupId} may list its members`,
  );
  await refuses(
    () => service.send(req(bob, GroupCmd.SEND, { groupId: "nope", data: 1 })),
    State.FAIL,
    "No group nope",
  );
});

Deno.test("group service: a client that leaves the gate is announced as disconnected", () => {
  const { service, pushes, lines } = setup();
  const a = service.create(req(alice, GroupCmd.CREATE, { groupId: "a" }));
  const b = service.create(req(bob, GroupCmd.CREATE, { groupId: "b" }));
  service.join(req(bob, GroupCmd.JOIN, { groupId: "a", key: a.key }));
  service.join(req(alice, GroupCmd.JOIN, { groupId: "b", key: b.key }));
  service.create(req(alice, GroupCmd.CREATE, { groupId: "solo" }));
  pushes.length = 0;
  service.clientLeft({ clientId: 1, userId: 10 });
  assert.deepEqual(pushes.map((p) => [p.data.groupId, p.clientIds, p.data.reason, p.data.owner]), [
    ["a", [2], "disconnected", { userId: 20, clientId: 2 }],
    ["b", [2], "disconnected", { userId: 20, clientId: 2 }],
  ]);
  assert.ok(lines.includes("group owner changed"));
  assert.ok(lines.includes("group ended"));
  assert.deepEqual(service.list(req(bob, GroupCmd.LIST)).groups.map((g) => g.groupId), ["b", "a"]);
});

Deno.test("group service: a failed push fails the send, and a lost gate drops every group", async () => {
  const { service, registry, lines } = setup({ failPush: true });
  const { groupId, key } = service.create(req(alice, GroupCmd.CREATE));
  service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  await refuses(
    () => service.send(req(alice, GroupCmd.SEND, { groupId, data: 1 })),
    State.FAIL,
    /could not be delivered/,
  );
  assert.equal(service.gateLost(), 1);
  assert.equal(registry.size, 0);
  assert.ok(lines.includes("groups dropped"));
  assert.equal(service.gateLost(), 0);
});

Deno.test("group service: a member kicked or logged out may still leave its group", async () => {
  const { service, pushes } = setup();
  const { groupId, key } = await service.create(req(alice, GroupCmd.CREATE, {}));
  await service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  // Bob's connection lost its user (kicked by a login elsewhere): it is still a member.
  const loggedOut = { clientId: bob.clientId, userId: 0 };
  assert.deepEqual(service.leave(req(loggedOut, GroupCmd.LEAVE, { groupId })), {
    groupId,
    ended: false,
  });
  const left = pushes.at(-1)!;
  assert.equal(left.cmd, GroupCmd.LEFT);
  assert.deepEqual(left.clientIds, [alice.clientId]);
  // A connection that is no member and not logged in is still refused.
  await refuses(
    () => service.leave(req(loggedOut, GroupCmd.LEAVE, { groupId })),
    State.NOT_LOGGED_IN,
    /Log in/,
  );
});

Deno.test("group service: stamped usernames ride in answers and every push", async () => {
  const { service, pushes } = setup();
  const named = (who: { clientId: number; userId: number }, userName: string) => ({
    ...who,
    userName,
  });
  const alice1 = named(alice, "alice1");
  const bobby2 = named(bob, "bobby2");
  // A user cannot choose its name: any name it gives is refused, whatever it is.
  for (const name of ["bobby2", "ab", 7]) {
    for (const cmd of [GroupCmd.CREATE, GroupCmd.JOIN]) {
      await refuses(
        () =>
          cmd === GroupCmd.CREATE
            ? service.create(req(alice1, cmd, { name }))
            : service.join(req(alice1, cmd, { groupId: "g1", key: "k", name })),
        State.BAD_REQUEST,
        "Field name is for service links only: a user is shown by the username it logged in with",
      );
    }
  }
  const created = service.create(req(alice1, GroupCmd.CREATE, { key: "k" }));
  assert.deepEqual(created.owner, { userId: 10, clientId: 1, name: "alice1" });
  const { groupId } = created;
  const joined = service.join(req(bobby2, GroupCmd.JOIN, { groupId, key: "k" }));
  assert.deepEqual(joined.members.map((m) => m.name), ["alice1", "bobby2"]);
  // A user bound without a username has no name.
  service.join(req(carol, GroupCmd.JOIN, { groupId, key: "k" }));
  assert.deepEqual(
    service.members(req(carol, GroupCmd.MEMBERS, { groupId })).members.map((m) => m.name),
    ["alice1", "bobby2", undefined],
  );
  assert.equal(pushes[0].cmd, GroupCmd.JOINED);
  assert.equal(pushes[0].data.name, "bobby2");
  assert.equal("name" in pushes[1].data, false, "carol has no username");
  await service.send(req(bobby2, GroupCmd.SEND, { groupId, data: "hi" }));
  assert.equal(pushes[2].data.fromName, "bobby2");
  service.leave(req(alice1, GroupCmd.LEAVE, { groupId }));
  assert.equal(pushes[3].data.name, "alice1");
  assert.deepEqual(pushes[3].data.owner, { userId: 20, clientId: 2, name: "bobby2" });
  service.dismiss(req(bobby2, GroupCmd.DISMISS, { groupId }));
  assert.equal(pushes[4].cmd, GroupCmd.DISMISSED);
  assert.equal(pushes[4].data.byName, "bobby2");
});

Deno.test("group service: a service link may name itself, by the username rule", async () => {
  const { service } = setup();
  for (const name of ["ab", "a b c d e f", "x".repeat(17), 7]) {
    await refuses(
      () => service.create(req(link, GroupCmd.CREATE, { name })),
      State.BAD_REQUEST,
      "Field name must be 6 to 16 letters (a-z, A-Z) and digits (0-9)",
    );
  }
  // A userName on a link's request (no gate stamps one) is not its name.
  const created = service.create(
    req({ ...link, userName: "alice1" }, GroupCmd.CREATE, { key: "k", name: "robot7" }),
  );
  assert.deepEqual(created.owner, { userId: 0, clientId: 5, name: "robot7" });
  const other = service.create(req({ clientId: 6, isServiceLink: true }, GroupCmd.CREATE, {}));
  assert.deepEqual(other.owner, { userId: 0, clientId: 6 });
});
