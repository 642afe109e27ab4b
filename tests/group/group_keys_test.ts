import assert from "node:assert/strict";
import { ResponseError, ServiceError, type ServiceRequest } from "../../client/mod.ts";
import { GroupCmd, type KeyNotify, State } from "../../shared/mod.ts";
import type { Logger } from "../../server/log.ts";
import { GroupKeys, type KeyGate, LOST_REASON } from "../../server/group/group_keys.ts";
import { GroupRegistry } from "../../server/group/group_registry.ts";
import { GroupService } from "../../server/group/group_service.ts";

/** A group service whose key gate records every call; `held` ids are another instance's. */
function setup(options: { held?: string[]; unreachable?: boolean; graceMs?: number } = {}) {
  const calls: string[] = [];
  const held = new Set(options.held ?? []);
  const claims: { key: string; notify?: KeyNotify }[] = [];
  const gate: KeyGate = {
    claimKey(key, notify) {
      if (options.unreachable) {
        return Promise.reject(
          new ResponseError({
            cmd: "ss_msg_key_claim",
            state: State.SERVER_OFF,
            msg: "The cluster's key directory cannot be reached now: try again",
          }),
        );
      }
      claims.push({ key, notify });
      calls.push(`claim ${key}`);
      return Promise.resolve(!held.has(key));
    },
    notifyKey(change) {
      calls.push(`notify ${change.key} +${change.add ?? []} -${change.remove ?? []}`);
      return Promise.resolve();
    },
    releaseKey(key) {
      calls.push(`release ${key}`);
      return Promise.resolve(true);
    },
  };
  const log: Logger = { debug() {}, info() {}, warn() {}, error() {} };
  const registry = new GroupRegistry({ limits: { maxMembers: 100, maxGroupsPerUser: 2 } });
  const service = new GroupService({
    registry,
    gate: { push: (ids) => Promise.resolve(ids.length) },
    log,
    maxDataBytes: 64,
    keys: new GroupKeys({ gate, log }),
    reconnectGraceMs: options.graceMs,
  });
  return { service, calls, claims, registry };
}

function req(clientId: number, userId: number, cmd: string, data: unknown = {}): ServiceRequest {
  return { cmd, data, clientId, userId, isServiceLink: false };
}

Deno.test("group keys: a create claims its id first; an id held elsewhere already exists", async () => {
  const { service, calls, claims } = setup({ held: ["taken"] });
  const created = await service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId: "room" }));
  assert.equal(created.groupId, "room");
  assert.deepEqual(calls, ["claim room", "notify room +1 -"]);
  assert.deepEqual(claims[0].notify, {
    cmd: GroupCmd.DISMISSED,
    data: { groupId: "room", byUserId: 0, byClientId: 0, reason: LOST_REASON },
  });
  await assert.rejects(
    () => service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId: "taken" })),
    (error) =>
      error instanceof ServiceError && error.state === State.FAIL &&
      error.message === "Group taken already exists",
  );
  // Held here: refused without asking the gate.
  calls.length = 0;
  await assert.rejects(() =>
    service.createClaimed(req(2, 20, GroupCmd.CREATE, { groupId: "room" }))
  );
  assert.deepEqual(calls, []);
});

Deno.test("group keys: joins and leaves keep the notify list, the end releases the id", async () => {
  const { service, calls } = setup();
  const { groupId, key } = await service.createClaimed(req(1, 10, GroupCmd.CREATE, {}));
  assert.equal(groupId.length, 16);
  service.join(req(2, 20, GroupCmd.JOIN, { groupId, key }));
  service.leave(req(2, 20, GroupCmd.LEAVE, { groupId }));
  service.join(req(3, 30, GroupCmd.JOIN, { groupId, key }));
  service.clientLeft({ clientId: 3, userId: 30 });
  service.leave(req(1, 10, GroupCmd.LEAVE, { groupId }));
  assert.deepEqual(calls, [
    `claim ${groupId}`,
    `notify ${groupId} +1 -`,
    `notify ${groupId} +2 -`,
    `notify ${groupId} + -2`,
    `notify ${groupId} +3 -`,
    `notify ${groupId} + -3`,
    `release ${groupId}`,
  ]);
  const again = await service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId }));
  service.dismiss(req(1, 10, GroupCmd.DISMISS, { groupId: again.groupId }));
  assert.equal(calls.at(-1), `release ${groupId}`);
});

Deno.test("group keys: a connection unbound is no longer told of a lost group, until its user is back on it", async () => {
  const { service, calls } = setup({ graceMs: 30_000 });
  const { groupId, key } = await service.createClaimed(req(1, 10, GroupCmd.CREATE, {}));
  service.join(req(2, 20, GroupCmd.JOIN, { groupId, key }));
  calls.length = 0;
  service.clientUnbound({ clientId: 2, userId: 20 });
  assert.deepEqual(calls, [`notify ${groupId} + -2`], "away on an open connection");
  service.clientBound({ clientId: 2, userId: 20 });
  assert.deepEqual(calls.slice(1), [`notify ${groupId} + -2`, `notify ${groupId} +2 -`]);
  service.clientLeft({ clientId: 2, userId: 20 });
  service.gateLost();
});

Deno.test("group keys: a create the registry refuses gives its claim back", async () => {
  const { service, calls } = setup();
  await service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId: "a" }));
  await service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId: "b" }));
  await assert.rejects(
    () => service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId: "c" })),
    { message: "You are in the most groups allowed (2)" },
  );
  assert.equal(calls.at(-1), "release c");
});

Deno.test("group keys: a claim the gate cannot make is answered with its state", async () => {
  const { service } = setup({ unreachable: true });
  await assert.rejects(
    () => service.createClaimed(req(1, 10, GroupCmd.CREATE, { groupId: "x" })),
    (error) =>
      error instanceof ServiceError && error.state === State.SERVER_OFF &&
      error.message === "The cluster's key directory cannot be reached now: try again",
  );
});
