/**
 * The npm package `@gatehouse/client` as a user gets it (issue 19): `npm pack` of what
 * `deno task build` writes, installed from the tarball into a fresh Node project (with `ws`,
 * `typescript` and `@types/node` from the npm registry), a TypeScript file that imports it by
 * name type-checked with `tsc`, and run on Node 20+ with no flags against the real gate over
 * ws:// and tcp://. Needs Node 20+ and npm (ignored without them, failed in CI).
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildNpmPackage, NPM_PACKAGE_NAME } from "../../client/build.ts";
import { nodeTool } from "../helpers/node.ts";
import { ROOT_DIR } from "../helpers/process.ts";
import { INTEGRATION, startEcho, startGate } from "../helpers/suite.ts";
import { onPath, requireTool } from "../helpers/tool.ts";

const node = nodeTool();
const npm = requireTool({ name: "npm", found: onPath("npm"), install: "it comes with Node" });

/** The TypeScript versions the fresh project installs (the one `deno task build` uses). */
const TYPESCRIPT = "typescript@5.9.3";
const NODE_TYPES = "@types/node@20";

/** What a user writes: imports by the package's name, typed options, both transports. */
const MAIN_TS = `
import { GateClient, type GateClientOptions, type ResponseEnvelope, State } from "@gatehouse/client";

async function roundTrip(url: string): Promise<{ heart: boolean; echo: unknown }> {
  const options: GateClientOptions = { url, reconnect: false };
  const client = new GateClient(options);
  await client.connect();
  const heart = await client.request("cs_msg_heart");
  const echo: ResponseEnvelope<{ data: { from: string } }> =
    await client.request<{ data: { from: string } }>("echo", { from: url });
  client.close();
  return { heart: heart.state === State.OK, echo: echo.state === State.OK && echo.data.data.from };
}

const [wsUrl, tcpUrl] = process.argv.slice(2);
console.log(JSON.stringify({
  node: process.versions.node,
  globalWebSocket: typeof (globalThis as { WebSocket?: unknown }).WebSocket,
  ws: await roundTrip(wsUrl),
  tcp: await roundTrip(tcpUrl),
}));
`;

/** The README's Node example, as written there (the ```js block that starts `// example.mjs`). */
async function readmeExample(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT_DIR}/README.md`);
  const block = /```js\n(\/\/ example\.mjs[^\n]*\n[\s\S]*?)```/.exec(readme);
  assert.ok(block, "README.md has the Node example");
  return block[1];
}

/** A TypeScript file that must not type-check: the package's types are really used. */
const WRONG_TS = `
import { GateClient } from "@gatehouse/client";
new GateClient({ url: 8080 });
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    types: ["node"],
    outDir: "out",
  },
  files: ["main.ts"],
};

async function run(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { npm_config_update_notifier: "false", npm_config_fund: "false" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function runOk(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  assert.equal(
    result.code,
    0,
    `${command} ${args.join(" ")} exited ${result.code}:\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

Deno.test({
  name: "npm package: packed, installed in a fresh Node project, type-checked, run over ws and tcp",
  ...INTEGRATION,
  ignore: node.ignore || npm.ignore,
  async fn(t) {
    node.check();
    npm.check();
    const dir = await Deno.makeTempDir({ prefix: "gatehouse_npm_" });
    const gate = await startGate();
    const echo = await startEcho(gate);
    try {
      const pkgDir = `${dir}/package`;
      let tarball = "";
      await t.step("deno task build's package packs", async () => {
        await buildNpmPackage(pkgDir);
        const pkg = JSON.parse(await Deno.readTextFile(`${pkgDir}/package.json`));
        assert.equal(pkg.name, NPM_PACKAGE_NAME);
        assert.equal(pkg.type, "module");
        const root = pkg.exports["."];
        for (const condition of ["browser", "node"]) {
          for (const file of [root[condition].default, root[condition].types]) {
            assert.ok((await Deno.stat(`${pkgDir}/${file}`)).isFile, `${condition}: ${file}`);
          }
          assert.ok((await Deno.stat(`${pkgDir}/${root[condition].default}.map`)).isFile);
        }
        assert.ok(pkg.dependencies.ws, "ws is a dependency, for Node 20's missing WebSocket");
        const browser = await Deno.readTextFile(`${pkgDir}/${root.browser.default}`);
        assert.doesNotMatch(browser, /["']ws["']\)|from\s*["']ws["']|["']node:/, "no Node imports");
        assert.ok(browser.split("\n").length < 10, "the browser bundle is minified");
        const packed = await runOk("npm", ["pack", "--pack-destination", dir], pkgDir);
        tarball = `${dir}/${packed.trim().split("\n").at(-1)}`;
        assert.match(tarball, /gatehouse-client-\d+\.\d+\.\d+\.tgz$/);
      });

      const project = `${dir}/project`;
      await t.step("installs from the tarball into a fresh project", async () => {
        await Deno.mkdir(project);
        await Deno.writeTextFile(
          `${project}/package.json`,
          JSON.stringify({ name: "consumer", private: true, type: "module" }),
        );
        await runOk("npm", [
          "install",
          "--no-audit",
          "--no-fund",
          "--prefer-offline",
          tarball,
          TYPESCRIPT,
          NODE_TYPES,
        ], project);
        const installed = JSON.parse(
          await Deno.readTextFile(`${project}/node_modules/@gatehouse/client/package.json`),
        );
        assert.equal(installed.name, NPM_PACKAGE_NAME);
        assert.ok((await Deno.stat(`${project}/node_modules/ws/package.json`)).isFile);
      });

      await t.step("tsc type-checks a file that uses it, and refuses a wrong one", async () => {
        await Deno.writeTextFile(`${project}/main.ts`, MAIN_TS);
        await Deno.writeTextFile(`${project}/tsconfig.json`, JSON.stringify(TSCONFIG));
        await runOk("node", ["node_modules/typescript/bin/tsc", "-p", "."], project);
        await Deno.writeTextFile(`${project}/wrong.ts`, WRONG_TS);
        const wrong = await run("node", [
          "node_modules/typescript/bin/tsc",
          "--noEmit",
          "--strict",
          "--module",
          "NodeNext",
          "--moduleResolution",
          "NodeNext",
          "--types",
          "node",
          "wrong.ts",
        ], project);
        assert.notEqual(wrong.code, 0, "a number for url type-checked");
        assert.match(wrong.stdout, /wrong\.ts.*Type 'number' is not assignable to type 'string/);
      });

      await t.step("runs on Node with no flags over ws:// and tcp://", async () => {
        const stdout = await runOk("node", ["out/main.js", gate.wsUrl, gate.tcpUrl], project);
        const result = JSON.parse(stdout.trim());
        assert.deepEqual(result.ws, { heart: true, echo: gate.wsUrl });
        assert.deepEqual(result.tcp, { heart: true, echo: gate.tcpUrl });
        if (Number(result.node.split(".")[0]) < 22) {
          // Node 20 has no global WebSocket: ws:// went through the ws package.
          assert.equal(result.globalWebSocket, "undefined");
        }
      });

      await t.step("the README's Node example runs as written", async () => {
        await Deno.writeTextFile(`${project}/example.mjs`, await readmeExample());
        for (const url of [gate.wsUrl, gate.tcpUrl]) {
          const stdout = await runOk("node", ["example.mjs", url], project);
          assert.equal(stdout.trim(), "connected: true", url);
        }
      });
    } finally {
      await echo.stop();
      await gate.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
