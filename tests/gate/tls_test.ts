import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { ROOT_DIR } from "../helpers/process.ts";
import { INTEGRATION, startGate } from "../helpers/suite.ts";
import { onPath, requireTool } from "../helpers/tool.ts";

const opensslNeeded = requireTool({
  name: "openssl",
  found: onPath("openssl", ["version"]),
  install: "apt-get install openssl",
});

/** Runs openssl; throws with its stderr when it fails. */
async function openssl(args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

/**
 * Makes a test CA and a certificate it signs for 127.0.0.1 and localhost. (A self-signed leaf
 * would be refused by rustls as a CA used as an end entity.)
 */
async function makeCertificate(
  dir: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
    "-days",
    "1",
    "-subj",
    "/CN=Gatehouse test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/leaf.csr`,
    "-subj",
    "/CN=localhost",
  ]);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/leaf.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${dir}/cert.pem`,
    "-days",
    "1",
    "-extfile",
    `${dir}/leaf.ext`,
  ]);
  return { ca: `${dir}/ca.pem`, cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
}

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
