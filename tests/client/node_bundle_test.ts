import assert from "node:assert/strict";
import { buildBundles, BUNDLES } from "../../client/build.ts";
import { buildNodeBundle, hasNode } from "../helpers/node.ts";
import { INTEGRATION, startEcho, startGate } from "../helpers/suite.ts";

Deno.test({
  name: "the Node bundle runs on Node with no flags: GateClient and ServiceClient over framed TCP",
  ...INTEGRATION,
  async fn() {
    if (!hasNode()) {
      console.log("skipped: node is not installed");
      return;
    }
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_node_" });
    const outfile = await buildNodeBundle(dir);
    const gate = await startGate();
    const echo = await startEcho(gate, { flags: ["--test-commands"] });
    try {
      const sskey = (await Deno.readTextFile(`${gate.dataDir}/sskey`)).trim();
      const script = `
        import { GateClient, ServiceClient, State } from ${JSON.stringify(outfile)};
        const [tcpUrl, sskey] = process.argv.slice(1);
        const service = new ServiceClient({ url: tcpUrl, sskey, name: "node-svc" });
        service.handle("node_hello", (request) => ({ hello: request.data.name, runtime: "node" }));
        await service.start();
        const client = new GateClient({ url: tcpUrl, reconnect: false });
        await client.connect();
        const echo = await client.request("echo", { from: "node" });
        const hello = await client.request("node_hello", { name: "gate" });
        const pushed = new Promise((resolve) => client.on("sc_msg_echo", resolve));
        await client.request("echo_push", { data: { pushed: true } });
        const push = await pushed;
        console.log(JSON.stringify({ echo: echo.state === State.OK && echo.data.data.from, hello: hello.data, push }));
        client.close();
        service.stop();
      `;
      const output = await new Deno.Command("node", {
        args: ["--input-type=module", "-e", script, gate.tcpUrl, sskey],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.ok(output.success, stderr);
      const result = JSON.parse(new TextDecoder().decode(output.stdout).trim());
      assert.deepEqual(result, {
        echo: "node",
        hello: { hello: "gate", runtime: "node" },
        push: { pushed: true },
      });
    } finally {
      await echo.stop();
      await gate.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the browser bundle has no Node or Deno imports",
  ...INTEGRATION,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_browser_" });
    const outfile = `${dir}/gatehouse.js`;
    await buildBundles([{ ...BUNDLES.find((b) => b.platform === "browser")!, outfile }]);
    const code = await Deno.readTextFile(outfile);
    assert.doesNotMatch(code, /from\s*["']node:|require\(["']node:|import\(["']node:/);
    assert.doesNotMatch(code, /\bDeno\./);
    assert.match(code, /GateClient = class|class GateClient/);
    assert.ok((await Deno.stat(`${outfile}.map`)).isFile, "a source map is written");
    await Deno.remove(dir, { recursive: true });
  },
});
