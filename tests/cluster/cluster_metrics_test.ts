import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { natsServerTool } from "../helpers/nats.ts";
import {
  connectClient,
  type GateProcess,
  INTEGRATION,
  startEcho,
  waitFor,
} from "../helpers/suite.ts";
import { withTwoGates } from "./two_gates.ts";

const natsServer = natsServerTool();

/** The value of one series of a gate's /metrics (0 when absent). */
async function series(gate: GateProcess, name: string): Promise<number> {
  const text = await (await fetch(`${gate.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

/** A series summed over the gates, as a dashboard sums the cluster. */
async function summed(gates: GateProcess[], name: string): Promise<number> {
  let total = 0;
  for (const gate of gates) total += await series(gate, name);
  return total;
}

Deno.test({
  name: "cluster /metrics: a request across gates is counted once, under its command",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    await withTwoGates({ flags: ["--request-timeout-ms", "1000"] }, async ({ a, b, track }) => {
      const gates = [a, b];
      const echo = track.service(await startEcho(b));
      const client = track.client(await connectClient(a.wsUrl));
      await waitFor(async () => (await client.request("echo", {})).state === State.OK, {
        what: "echo on B reachable from A",
      });
      const okBefore = await summed(
        gates,
        'gatehouse_gate_request_seconds_count{cmd="echo",state="OK"}',
      );
      const responsesBefore = await series(a, 'gatehouse_responses_total{state="OK"}');
      // B answered echo's registration; nothing more is B's to count.
      const responsesOnB = await series(b, 'gatehouse_responses_total{state="OK"}');
      for (let i = 0; i < 5; i++) {
        assert.equal((await client.request("echo", { i })).state, State.OK);
      }
      assert.equal(
        await summed(gates, 'gatehouse_gate_request_seconds_count{cmd="echo",state="OK"}') -
          okBefore,
        5,
        "each answered request observed once in the cluster",
      );
      assert.equal(
        await series(a, 'gatehouse_responses_total{state="OK"}') - responsesBefore,
        5,
        "each response counted by the gate that sent it to the client",
      );
      assert.equal(await series(b, 'gatehouse_responses_total{state="OK"}'), responsesOnB);

      // A service that does not answer in time: one TIMEOUT in the cluster, not one per gate.
      const slow = await client.request("echo_sleep", { ms: 3000 });
      assert.equal(slow.state, State.TIMEOUT);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(
        await summed(
          gates,
          'gatehouse_gate_request_seconds_count{cmd="echo_sleep",state="TIMEOUT"}',
        ),
        1,
      );
      assert.equal(
        await summed(gates, 'gatehouse_gate_request_seconds_count{cmd="other",state="TIMEOUT"}'),
        0,
      );

      // The only instance gone: A answers SERVER_OFF under the command's name, not "other".
      echo.kill("SIGKILL");
      await echo.status;
      await waitFor(async () => (await client.request("echo", {})).state === State.SERVER_OFF, {
        what: "SERVER_OFF on A",
      });
      assert.ok(
        await series(a, 'gatehouse_gate_request_seconds_count{cmd="echo",state="SERVER_OFF"}') >= 1,
      );
      assert.equal(
        await series(a, 'gatehouse_gate_request_seconds_count{cmd="other",state="SERVER_OFF"}'),
        0,
      );
    });
  },
});
