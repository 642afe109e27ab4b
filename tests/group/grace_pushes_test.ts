import assert from "node:assert/strict";
import type { ServiceRequest } from "../../client/mod.ts";
import { GroupCmd } from "../../shared/mod.ts";
import { eventLog } from "../helpers/event_log.ts";
import { GroupRegistry } from "../../server/group/group_registry.ts";
import { GroupService } from "../../server/group/group_service.ts";

interface Push {
  clientIds: number[];
  cmd: string;
  data: Record<string, unknown>;
}

/** A group service with a grace period over a fake gate that records every push. */
function setup(reconnectGraceMs: number) {
  const pushes: Push[] = [];
  const { log, lines } = eventLog();
  const registry = new GroupRegistry({ limits: { maxMembers: 100, maxGroupsPerUser: 10 } });
  const service = new GroupService({
    registry,
    gate: {
      push(clientIds, cmd, data) {
        pushes.push({ clientIds, cmd, data: data as Record<string, unknown> });
        return Promise.resolve(clientIds.length);
      },
    },
    log,
    maxDataBytes: 64,
    now: () => 5000,
    reconnectGraceMs,
  });
  return { service, registry, pushes, lines };
}

function req(
  from: { clientId: number; userId: number; userName?: string },
  cmd: string,
  data: unknown = {},
): ServiceRequest {
  return { cmd, data, isServiceLink: false, ...from };
}

const alice = { clientId: 1, userId: 10, userName: "alice1" };
const bob = { clientId: 2, userId: 20, userName: "bobby1" };

Deno.test("grace pushes: away, then back in the same place; the message meanwhile is not kept", async () => {
  const { service, pushes, lines } = setup(60_000);
  const { groupId, key } = service.create(req(alice, GroupCmd.CREATE, { groupId: "room" }));
  service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  pushes.length = 0;

  service.clientLeft({ clientId: 1, userId: 10 });
  assert.deepEqual(pushes, [{
    clientIds: [2],
    cmd: GroupCmd.AWAY,
    data: { groupId, userId: 10, clientId: 1, name: "alice1", graceMs: 60_000, members: 2 },
  }]);
  assert.ok(lines.includes("group member away"));
  const sent = await service.send(req(bob, GroupCmd.SEND, { groupId, data: "while away" }));
  assert.equal(sent.reached, 0, "nobody to push to while alice is away");
  assert.equal(pushes.length, 1);

  const again = { clientId: 9, userId: 10, userName: "alice1" };
  service.clientBound({ clientId: 9, userId: 10 });
  assert.deepEqual(pushes.at(-1), {
    clientIds: [2],
    cmd: GroupCmd.BACK,
    data: {
      groupId,
      userId: 10,
      clientId: 9,
      previousClientId: 1,
      name: "alice1",
      owner: { userId: 10, clientId: 9, name: "alice1" },
      members: 2,
    },
  });
  assert.deepEqual(service.list(req(again, GroupCmd.LIST)).groups, [
    { groupId, owner: { userId: 10, clientId: 9, name: "alice1" }, members: 2, isOwner: true },
  ]);
  assert.deepEqual(
    service.members(req(bob, GroupCmd.MEMBERS, { groupId })).members.map((m) => m.clientId),
    [9, 2],
  );
  // The owner again may dismiss.
  assert.equal(service.dismiss(req(again, GroupCmd.DISMISS, { groupId })).members, 2);
});

Deno.test("grace pushes: the member leaves as disconnected when the grace ends", async () => {
  const { service, pushes, lines } = setup(30);
  const { groupId, key } = service.create(req(alice, GroupCmd.CREATE, { groupId: "room" }));
  service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  service.clientLeft({ clientId: 2, userId: 20 });
  assert.equal(pushes.at(-1)!.cmd, GroupCmd.AWAY);
  const away = service.members(req(alice, GroupCmd.MEMBERS, { groupId })).members;
  assert.deepEqual(away.map((m) => [m.clientId, m.away]), [[1, undefined], [2, true]]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(pushes.at(-1), {
    clientIds: [1],
    cmd: GroupCmd.LEFT,
    data: {
      groupId,
      userId: 20,
      clientId: 2,
      name: "bobby1",
      reason: "disconnected",
      owner: { userId: 10, clientId: 1, name: "alice1" },
      members: 1,
    },
  });
  assert.ok(lines.includes("group grace ended"));
});

Deno.test("grace pushes: with the grace period off, a dropped member leaves at once", () => {
  const { service, pushes } = setup(0);
  const { groupId, key } = service.create(req(alice, GroupCmd.CREATE, { groupId: "room" }));
  service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  service.clientLeft({ clientId: 2, userId: 20 });
  assert.equal(pushes.at(-1)!.cmd, GroupCmd.LEFT);
  assert.equal(pushes.at(-1)!.data.reason, "disconnected");
});

Deno.test("grace pushes: a gate going down ends its away members at once", () => {
  const { service, registry, pushes } = setup(60_000);
  const { groupId, key } = service.create(req(alice, GroupCmd.CREATE, { groupId: "room" }));
  service.join(req(bob, GroupCmd.JOIN, { groupId, key }));
  service.clientLeft({ clientId: 2, userId: 20 });
  service.gateDown({ gate: 2, fromClientId: 2, toClientId: 3 });
  assert.equal(pushes.at(-1)!.cmd, GroupCmd.LEFT);
  assert.deepEqual(registry.peek(groupId)!.members.map((m) => m.clientId), [1]);
  service.gateLost();
});
