import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { ROOT_DIR } from "../helpers/process.ts";
import { INTEGRATION, startGate } from "../helpers/suite.ts";
import { makeCertificate, opensslNeeded } from "../helpers/certificate.ts";

Deno.test({
  name: "TLS: a wss:// client and a TLS framed-TCP client reach a gate started with a certificate",
  ...INTEGRATION,
  ignore: opensslNeeded.ignore,
  async fn(t) {
    opensslNeeded.check();
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_tls_" });
    const files = await makeCertificate(dir);
    const gate = await startGate({ flags: ["--cert", files.cert, "--key", files.key] });
    try {
      assert.match(gate.wsUrl, /^wss:\/\//);
      assert.match(gate.tcpUrl, /^tls:\/\//);
      assert.match(gate.httpUrl, /^https:\/\//);
      await t.step("tls:// framed TCP", async () => {
        const ca = await Deno.readTextFile(files.ca);
        const client = new GateClient({ url: gate.tcpUrl, caCerts: [ca], reconnect: false });
        await client.connect();
        assert.equal((await client.request("cs_msg_heart")).state, State.OK);
        client.close();
      });
      await t.step("wss:// in a process that trusts the certificate", async () => {
        // A WebSocket takes no CA option, so the probe runs with DENO_CERT pointing at ours.
        const probe = `
          import { GateClient } from "${ROOT_DIR}/client/mod.ts";
          const client = new GateClient({ url: Deno.args[0], reconnect: false });
          await client.connect();
          const response = await client.request("cs_msg_heart");
          console.log(JSON.stringify({ state: response.state }));
          client.close();
        `;
        const output = await new Deno.Command(Deno.execPath(), {
          args: ["eval", probe, gate.wsUrl],
          env: { DENO_CERT: files.ca },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(output.stdout);
        assert.ok(output.success, new TextDecoder().decode(output.stderr));
        assert.equal(JSON.parse(stdout.trim()).state, State.OK);
      });
      await t.step("an untrusted client is refused by TLS", async () => {
        const client = new GateClient({ url: gate.tcpUrl, reconnect: false });
        await assert.rejects(client.connect());
        client.close();
      });
    } finally {
      await gate.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
