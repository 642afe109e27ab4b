/**
 * `ss_msg_user_unbind` across the gates of a cluster: a binding that ends on gate A reaches the
 * services linked to gate B on the client event stream, in order with that client's binds and
 * its leave, also when NATS was down meanwhile; and a group service linked to gate B hears a
 * logout of a member connected to gate A (the connection is no member from then on). Needs
 * nats-server: without it the tests are ignored with a line saying so, unless CI is set.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ServiceClient, type ServiceRequest } from "../../client/mod.ts";
import { GroupCmd, LoginCmd, State } from "../../shared/mod.ts";
import type { GroupCreated, GroupInfo } from "../../shared/group_messages.ts";
import { readServiceKey } from "../../server/service_key.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin, TEST_PASSWORD, uniqueName } from "../helpers/login.ts";
import { natsServerTool } from "../helpers/nats.ts";
import { RawClient } from "../helpers/raw.ts";
import { type GateProcess, INTEGRATION, waitFor, waitServed } from "../helpers/suite.ts";
import { withTwoGates } from "./two_gates.ts";

const natsServer = natsServerTool();

type Heard = [string, number, number];

/** A service on `gate` that hears binds, unbinds and leaves, and answers `test_whoami`. */
async function listener(gate: GateProcess, sskey: string, name: string) {
  const heard: Heard[] = [];
  const service = new ServiceClient({ url: gate.wsUrl, sskey, name, type: name });
  service
    .handle(`test_whoami_${name}`, (request: ServiceRequest) => ({ clientId: request.clientId }))
    .onUserBind((bind) => heard.push(["bind", bind.clientId, bind.userId]))
    .onUserUnbind((unbind) => heard.push(["unbind", unbind.clientId, unbind.userId]))
    .onClientLeave((leave) => heard.push(["leave", leave.clientId, leave.userId]));
  await service.start();
  const of = (clientId: number) => heard.filter((event) => event[1] === clientId);
  return { service, heard, of };
}

Deno.test({
  name:
    "cluster: an unbind on gate A reaches gate B's services in order with the binds and the leave, across a NATS outage",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({}, async ({ a, b, nats, dataDir }) => {
      const sskey = await readServiceKey(dataDir);
      const onA = await listener(a, sskey, "ona");
      const onB = await listener(b, sskey, "onb");
      const raw = await RawClient.open(a.tcpUrl);
      try {
        const { clientId } = await raw.ok<{ clientId: number }>("test_whoami_ona");
        assert.equal(await onA.service.bindUser({ clientId, userId: 7 }), true);
        assert.equal(await onB.service.unbindUser({ clientId, userId: 7 }), true, "from gate B");
        await waitFor(() => onB.of(clientId).length === 2, { what: "bind and unbind on B" });

        await nats.stop();
        await waitFor(
          async () => (await (await fetch(`${a.httpUrl}/healthz`)).json()).status === "degraded",
          { what: "A degraded" },
        );
        // Gate A's own link binds and unbinds its client while NATS is away.
        assert.equal(await onA.service.bindUser({ clientId, userId: 8 }), true);
        assert.equal(await onA.service.bindUser({ clientId, userId: 9 }), true);
        assert.equal(await onA.service.unbindUser({ clientId, userId: 8 }), false);
        assert.equal(await onA.service.unbindUser({ clientId, userId: 9 }), true);
        assert.equal(await onA.service.bindUser({ clientId, userId: 10 }), true);
        raw.close();
        await waitFor(() => onA.of(clientId).length === 8, { what: "the leave on A" });
        await nats.restart();
        const want: Heard[] = [
          ["bind", clientId, 7],
          ["unbind", clientId, 7],
          ["bind", clientId, 8],
          ["unbind", clientId, 8],
          ["bind", clientId, 9],
          ["unbind", clientId, 9],
          ["bind", clientId, 10],
          ["leave", clientId, 10],
        ];
        await waitFor(() => onB.of(clientId).length >= want.length, {
          what: "every event heard on B",
          timeoutMs: 20_000,
        });
        assert.deepEqual(onB.of(clientId), want, "gate B's service, in order, each once");
        assert.deepEqual(onA.of(clientId).filter((e) => e[0] !== "leave"), want.slice(0, 7));
      } finally {
        raw.close();
        onA.service.stop();
        onB.service.stop();
      }
    });
  },
});

Deno.test({
  name:
    "cluster: a group service on gate B hears the logout of a member on gate A, which is no member from then on",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({ flags: ["--request-timeout-ms", "3000"] }, async ({ a, b, track }) => {
      track.service(await startLogin(b));
      track.service(await startGroup(b, { flags: ["--reconnect-grace-ms", "0"] }));
      await waitServed(a, LoginCmd.LOGIN);
      await waitServed(a, GroupCmd.LIST);
      const raws: RawClient[] = [];
      const account = async (url: string, prefix: string, on?: RawClient) => {
        const raw = on ?? await RawClient.open(url, { label: prefix });
        if (!on) raws.push(raw);
        const username = uniqueName(prefix);
        await raw.ok(LoginCmd.REGISTER, { username, password: TEST_PASSWORD });
        const login = await raw.ok(LoginCmd.LOGIN, { username, password: TEST_PASSWORD });
        return { raw, username, userId: login.userId as number };
      };
      try {
        const alice = await account(a.tcpUrl, "alice");
        const created = await alice.raw.ok<GroupCreated>(GroupCmd.CREATE, {});
        const { groupId, key } = created;
        const bob = await account(b.tcpUrl, "bob");
        const joined = await bob.raw.ok<GroupInfo>(GroupCmd.JOIN, { groupId, key });
        const hello = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "hello" });
        assert.equal(hello.reached, 1);
        await alice.raw.push(GroupCmd.MSG);

        await alice.raw.ok(LoginCmd.LOGOUT);
        const gone = await bob.raw.push(GroupCmd.LEFT);
        assert.deepEqual([gone.userId, gone.clientId, gone.reason], [
          alice.userId,
          created.owner.clientId,
          "disconnected",
        ]);
        assert.equal(gone.owner.clientId, joined.members[1].clientId);
        const after = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "still there?" });
        assert.equal(after.reached, 0, "the logged-out connection on gate A gets no message");
        const carol = await account(a.tcpUrl, "carol", alice.raw);
        assert.deepEqual((await carol.raw.ok(GroupCmd.LIST)).groups, []);
        const send = await carol.raw.call(GroupCmd.SEND, { groupId, data: "me?" });
        assert.equal(send.state, State.FORBIDDEN);
        const more = await bob.raw.ok(GroupCmd.SEND, { groupId, data: "anyone?" });
        assert.equal(more.reached, 0);
        assert.deepEqual(carol.raw.of(GroupCmd.MSG).map((m) => m.data), ["hello"]);
      } finally {
        for (const raw of raws) raw.close();
      }
    });
  },
});
