import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import { natsServerTool } from "../helpers/nats.ts";
import { interruptClusterTask, startClusterTask } from "../helpers/cluster_task.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();

/** What the server wrote after a CONNECT without credentials and a publish. */
async function anonymousPublish(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let received = "";
  try {
    await conn.write(
      new TextEncoder().encode(
        'CONNECT {"verbose":false}\r\nPUB gatehouse.announce 2\r\n{}\r\nPING\r\n',
      ),
    );
    const buffer = new Uint8Array(4096);
    while (!received.includes("-ERR") && !received.includes("PONG")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
  return received;
}

Deno.test({
  name: "deno task cluster: nats-server with JetStream and a password, credentials 0600",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_demo_" });
    const task = await startClusterTask({ dataDir });
    const demo = task.process;
    try {
      for (const file of ["nats.conf", "nats-gate.json"]) {
        const mode = (await Deno.stat(`${dataDir}/${file}`)).mode! & 0o777;
        assert.equal(mode, 0o600, `${file} is mode ${mode.toString(8)}`);
      }
      const creds = JSON.parse(await Deno.readTextFile(`${dataDir}/nats-gate.json`));
      assert.ok(creds.password.length >= 32);
      assert.ok(
        !demo.lines.some((line) => line.includes(creds.password)),
        "the password never reaches a log line",
      );
      assert.match(await anonymousPublish(task.natsPort), /-ERR 'Authorization Violation'/);
      // A client on gate B reaches the login service linked to gate A.
      const client = new GateClient({ url: task.gateB.wsUrl, reconnect: false });
      await client.connect();
      try {
        await waitFor(async () => {
          const state = (await client.request(LoginCmd.LOGIN, {})).state;
          return state !== State.UNDEFINED_CMD && state !== State.SERVER_OFF;
        }, { what: "login reachable from gate B", timeoutMs: 20_000 });
      } finally {
        client.close();
      }
    } finally {
      const status = await interruptClusterTask(task, { killAfterMs: 15_000 });
      assert.equal(status.code, 0, demo.lines.slice(-20).join("\n"));
    }
  },
});
