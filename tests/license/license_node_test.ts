/**
 * LicenseClient on Node: the Node bundle of `deno task build` is imported by the system `node`
 * and run against the real server (ignored when no `node` is installed, failed in CI).
 */

import assert from "node:assert/strict";
import { buildNodeBundle, nodeTool } from "../helpers/node.ts";
import { makeLicenseDir, startLicenseServer } from "./license_fixtures.ts";

const node = nodeTool();

const entry = (bundle: string) => `
import { LicenseClient, MessageTypes } from ${JSON.stringify(bundle)};
const events = [];
const client = new LicenseClient();
await client.start(
  { port: Number(process.argv[2]), user: "node", hostName: "node-host" },
  new MessageTypes(),
  (e) => events.push(e.status),
);
const login = await client.sendLoginReq();
const dog = await client.sendGetDogStatusReq();
await new Promise((r) => setTimeout(r, 700));
const heartbeat = await client.sendHeartbeatReq();
await client.stop();
console.log(JSON.stringify({ login: login.state, customer: dog.customer, heartbeat: heartbeat.state, events }));
`;

Deno.test({
  name: "LicenseClient runs on Node against the real server",
  ignore: node.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    node.check();
    const dataDir = await makeLicenseDir({ seats: 1, customer: "NodeCo" });
    const server = await startLicenseServer({ dataDir });
    try {
      const bundle = await buildNodeBundle(dataDir);
      await Deno.writeTextFile(`${dataDir}/entry.mjs`, entry(bundle));
      const run = await new Deno.Command("node", {
        args: [`${dataDir}/entry.mjs`, String(server.port)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(run.stdout);
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      assert.deepEqual(JSON.parse(stdout), {
        login: 1,
        customer: "NodeCo",
        heartbeat: 1,
        events: ["connected", "licensed", "released", "stopped"],
      });
      assert.ok(server.lines.some((l) => /release .*user=node .*reason=logout/.test(l)));
    } finally {
      assert.equal(await server.stop(), 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
