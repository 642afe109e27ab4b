import assert from "node:assert/strict";
import { ServiceClient } from "../../client/mod.ts";
import type { UserBind } from "../../shared/mod.ts";
import { readServiceKey } from "../../server/service_key.ts";
import { loggedInClient, startLogin } from "../helpers/login.ts";
import { natsServerTool } from "../helpers/nats.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";
import { withTwoGates } from "./two_gates.ts";

const natsServer = natsServerTool();

Deno.test({
  name: "cluster: ServiceClient.onUserBind hears a login on either gate, once per binding",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({}, async ({ a, b, dataDir, track }) => {
      const sskey = await readServiceKey(dataDir);
      const heard = new Map<string, UserBind[]>();
      const listeners: ServiceClient[] = [];
      for (const [name, gate] of [["on-a", a], ["on-b", b]] as const) {
        const binds: UserBind[] = [];
        heard.set(name, binds);
        const listener = new ServiceClient({ url: gate.wsUrl, sskey, name, type: "watch" });
        listener.onUserBind((bind) => binds.push(bind));
        await listener.start();
        listeners.push(listener);
      }
      try {
        track.service(await startLogin(b));
        // The login service (linked to B) binds a client of B: both listeners hear it.
        const user = await loggedInClient(b.wsUrl, "bind");
        track.client(user.client);
        const want = { userId: user.userId };
        await waitFor(() => heard.get("on-a")!.length > 0 && heard.get("on-b")!.length > 0, {
          what: "the bind event on both gates",
        });
        for (const [name, binds] of heard) {
          assert.equal(binds.length, 1, `${name} heard the binding once`);
          assert.equal(binds[0].userId, want.userId, name);
          assert.ok(Number.isSafeInteger(binds[0].clientId) && binds[0].clientId > 0, name);
        }
        assert.deepEqual(heard.get("on-a"), heard.get("on-b"), "the same event on both gates");
        assert.deepEqual(Object.keys(heard.get("on-a")![0]).sort(), ["clientId", "userId"]);
      } finally {
        for (const listener of listeners) listener.stop();
      }
    });
  },
});
