/**
 * `ss_msg_user_unbind` through a real gate: a service that listed it (ServiceClient
 * `onUserUnbind`) hears each binding that ends on a connection that stays open — an
 * `ss_msg_user_logout` that unbinds, a bind of another user replacing the first — in order with
 * the client's binds and its leave; not a logout the gate answers "not bound", not a close.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ServiceClient, type ServiceRequest } from "../../client/mod.ts";
import { GateCmd, State } from "../../shared/mod.ts";
import { RawClient } from "../helpers/raw.ts";
import { INTEGRATION, startGate, waitFor } from "../helpers/suite.ts";

Deno.test({
  name: "gate: ss_msg_user_unbind is told when a binding ends on an open connection, in order",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const sskey = (await Deno.readTextFile(`${gate.dataDir}/sskey`)).trim();
    const heard: Array<[string, number, number]> = [];
    const listener = new ServiceClient({ url: gate.tcpUrl, sskey, name: "listener" });
    listener
      .handle("test_whoami", (request: ServiceRequest) => ({ clientId: request.clientId }))
      .onUserBind((bind) => heard.push(["bind", bind.clientId, bind.userId]))
      .onUserUnbind((unbind) => heard.push(["unbind", unbind.clientId, unbind.userId]))
      .onClientLeave((leave) => heard.push(["leave", leave.clientId, leave.userId]));
    const deaf = new ServiceClient({ url: gate.wsUrl, sskey, name: "deaf", type: "deaf" });
    const deafHeard: unknown[] = [];
    deaf.onUserBind((bind) => deafHeard.push(bind));
    const raw = await RawClient.open(gate.tcpUrl);
    try {
      await listener.start();
      await deaf.start();
      const { clientId } = await raw.ok<{ clientId: number }>("test_whoami");

      assert.equal(await listener.bindUser({ clientId, userId: 7 }), true);
      const notBound = await listener.request(GateCmd.USER_LOGOUT, { clientId, userId: 8 });
      assert.equal(notBound.state, State.FAIL);
      assert.equal(notBound.msg, `Client ${clientId} is not bound to user 8`);
      assert.equal(await listener.unbindUser({ clientId, userId: 7 }), true);
      assert.equal(await listener.unbindUser({ clientId, userId: 7 }), false, "not bound now");
      assert.equal(await listener.bindUser({ clientId, userId: 8 }), true);
      assert.equal(await listener.bindUser({ clientId, userId: 9 }), true, "replaces user 8");
      // The events travel on the link before the answers that caused them.
      assert.deepEqual(heard, [
        ["bind", clientId, 7],
        ["unbind", clientId, 7],
        ["bind", clientId, 8],
        ["unbind", clientId, 8],
        ["bind", clientId, 9],
      ]);
      raw.close();
      await waitFor(() => heard.length === 6, { what: "the client leave" });
      assert.deepEqual(heard[5], ["leave", clientId, 9], "a close is a leave, never an unbind");
      assert.equal(deafHeard.length, 3, "the binds reach a link that did not list the unbind");
    } finally {
      raw.close();
      listener.stop();
      deaf.stop();
      await gate.stop();
    }
  },
});
