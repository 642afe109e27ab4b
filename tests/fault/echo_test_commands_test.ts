/**
 * The echo service's commands that use a service's powers for whoever asks (push to anyone,
 * bind any user, kick anyone, watch who leaves) exist only with `--test-commands`: without it
 * the gate answers them `UNDEFINED_CMD`, as for any command nobody registered; with it they work.
 *
 * @module
 */

import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { TEST_COMMANDS } from "../../server/echo/main.ts";
import { connectClient, INTEGRATION, startEcho, startGate, waitFor } from "../helpers/suite.ts";

Deno.test({
  name: "echo: bind, kick, push and leaves are refused without --test-commands and work with it",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    try {
      await t.step("without the flag: UNDEFINED_CMD, and echo still served", async () => {
        const echo = await startEcho(gate);
        const client = await connectClient(gate.wsUrl);
        try {
          assert.ok(echo.lines.every((line) => !/TEST COMMANDS ON/.test(line)));
          const data: Record<string, unknown> = {
            echo_push: { clientIds: [1], cmd: "sc_msg_x", data: {} },
            echo_bind: { userId: 1 },
            echo_kick: { clientId: 1 },
            echo_leaves: {},
          };
          for (const cmd of TEST_COMMANDS) {
            const response = await client.request(cmd, data[cmd]);
            assert.equal(response.state, State.UNDEFINED_CMD, cmd);
          }
          assert.equal((await client.request("echo", { hi: 1 })).state, State.OK);
        } finally {
          client.close();
          await echo.stop();
        }
      });

      await t.step("with --test-commands: each one works", async () => {
        const echo = await startEcho(gate, { flags: ["--test-commands"] });
        const caller = await connectClient(gate.wsUrl);
        const victim = await connectClient(gate.wsUrl);
        try {
          assert.ok(echo.lines.some((line) => / WARN .*TEST COMMANDS ON/.test(line)));
          const victimId = (await victim.request<{ clientId: number }>("echo", {})).data
            .clientId;
          const pushes: unknown[] = [];
          victim.on("sc_msg_test", (data) => pushes.push(data));
          const pushed = await caller.request<{ reached: number }>("echo_push", {
            clientIds: [victimId],
            cmd: "sc_msg_test",
            data: { n: 7 },
          });
          assert.equal(pushed.state, State.OK);
          assert.equal(pushed.data.reached, 1);
          await waitFor(() => pushes.length === 1, { what: "the push" });
          assert.deepEqual(pushes[0], { n: 7 });

          type Echoed = { userId: number; userName: string | null };
          const before = await caller.request<Echoed>("echo", {});
          assert.deepEqual([before.data.userId, before.data.userName], [0, null]);
          const bound = await caller.request<{ bound: boolean }>("echo_bind", {
            userId: 4242,
            username: "echouser1",
          });
          assert.equal(bound.state, State.OK);
          assert.equal(bound.data.bound, true);
          const after = await caller.request<Echoed>("echo", {});
          assert.deepEqual([after.data.userId, after.data.userName], [4242, "echouser1"]);

          const closed = new Promise<void>((resolve) =>
            victim.onState((s) => {
              if (s === "closed" || s === "disconnected") resolve();
            })
          );
          const kicked = await caller.request<{ kicked: boolean }>("echo_kick", {
            clientId: victimId,
          });
          assert.equal(kicked.state, State.OK);
          await closed;
          await waitFor(async () => {
            const seen = await caller.request<{ leaves: { clientId: number }[] }>("echo_leaves");
            return seen.data.leaves.some((leave) => leave.clientId === victimId);
          }, { what: "the kicked client among the leaves" });
        } finally {
          caller.close();
          victim.close();
          await echo.stop();
        }
      });
    } finally {
      await gate.stop();
    }
  },
});
