/**
 * The suite's one configuration (issue 19): the config file's keys and their checks, the flags
 * that win over it, what the gate is handed, and a supervisor started from a config file with
 * TLS serving wss:// with the login service working through it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { gateFlags, loadSuiteConfig, pageOrigin } from "../../server/supervisor/config.ts";
import { configFromJson } from "../../server/supervisor/config_file.ts";
import { makeCertificate, opensslNeeded } from "../helpers/certificate.ts";
import { ROOT_DIR, startProcess, taskArgs, tempDataDir } from "../helpers/process.ts";
import { freePorts, INTEGRATION } from "../helpers/suite.ts";

async function withConfig<T>(json: unknown, work: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_config_" });
  try {
    const path = `${dir}/gatehouse.json`;
    await Deno.writeTextFile(path, JSON.stringify(json));
    return await work(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("config: the example file parses, relative paths are the file's, flags win", async () => {
  const example = `${ROOT_DIR}/gatehouse.example.json`;
  const config = await loadSuiteConfig(["--config", example, "--port", "9443", "--rate", "5"]);
  assert.equal(config.options.port, 9443);
  assert.equal(config.options.limits.rate, 5, "a flag wins over the file");
  assert.equal(config.options.limits.burst, 200, "the file's value stays");
  assert.equal(config.options.tls?.cert, "/run/credentials/gatehouse.service/tls.crt");
  assert.equal(config.options.dataDir, "/var/lib/gatehouse");
  assert.equal(config.options.publicOrigin, "https://chat.example.com");
  assert.deepEqual(config.options.log, { format: "json", level: "info" });
  assert.deepEqual(config.options.trustProxy, []);
  assert.equal(config.options.limits.headerTimeoutMs, 5000);

  await withConfig({ dataDir: "data", tls: { cert: "c.pem", key: "k.pem" } }, async (path) => {
    const dir = path.slice(0, path.lastIndexOf("/"));
    const relative = await loadSuiteConfig(["--config", path]);
    assert.equal(relative.options.dataDir, `${dir}/data`);
    assert.deepEqual(relative.options.tls, { cert: `${dir}/c.pem`, key: `${dir}/k.pem` });
  });
  const none = await loadSuiteConfig([]);
  assert.equal(none.options.port, 8080);
  assert.deepEqual(none.options.limits, {});
  assert.deepEqual(gateFlags(none.options), [], "nothing set: the gate keeps its defaults");
});

Deno.test("config: a bad key or value is refused with a sentence naming it", async () => {
  const cases: Array<[unknown, string]> = [
    [[], "The config file must hold a JSON object"],
    [{ prot: 1 }, "Config key prot is not one the suite knows"],
    [{ port: 70000 }, "Config key port must be an integer from 0 to 65535"],
    [{ tls: { cert: "a" } }, "Config key tls.key must be a non-empty string"],
    [{ limits: { rate: 0 } }, "Config key limits.rate must be an integer from 1 to"],
    [{ limits: { speed: 1 } }, "Config key limits.speed is not one the suite knows"],
    [
      { allowOrigins: ["https://a.example/path"] },
      "Config key allowOrigins[0] must be an origin like https://chat.example.com",
    ],
    [{ log: { level: "loud" } }, "Config key log.level must be one of debug, info, warn, error"],
    [{ startLimit: { burst: 0 } }, "Config key startLimit.burst must be an integer from 1"],
    [{ trustProxy: "10.0.0.2" }, "Config key trustProxy must be an array of IP addresses"],
    [
      { trustProxy: ["10.0.0.2", "proxy.example.com"] },
      'Config key trustProxy[1] must be an IP address, not "proxy.example.com"',
    ],
    [{ limits: { headerTimeoutMs: 5 } }, "Config key limits.headerTimeoutMs must be an integer"],
    [{ loginDb: "mysql://h/db" }, "Config key loginDb must be postgres://user:pass@host:port/db"],
  ];
  assert.equal(
    configFromJson({ loginDb: "postgres://u:p@db.example:5432/gatehouse" }, "/").loginDb,
    "postgres://u:p@db.example:5432/gatehouse",
  );
  for (const [json, message] of cases) {
    assert.throws(() => configFromJson(json, "/"), (error: Error) => {
      assert.ok(error.message.startsWith(message), `${error.message} ≠ ${message}`);
      return true;
    });
  }
  await withConfig({ port: "80" }, async (path) => {
    await assert.rejects(
      loadSuiteConfig(["--config", path]),
      new RegExp(`^TypeError: In ${path}: Config key port must be an integer`),
    );
  });
  await assert.rejects(
    loadSuiteConfig(["--config", "/nonexistent/gatehouse.json"]),
    /The config file \/nonexistent\/gatehouse.json cannot be read/,
  );
  await assert.rejects(
    loadSuiteConfig(["--cert", "a.pem"]),
    /--cert and --key must be given together/,
  );
});

Deno.test("config: the gate is handed TLS, trusted proxies, the limits, the page's own origin first", async () => {
  const { options } = await loadSuiteConfig([
    "--port",
    "8443",
    "--cert",
    "/c.pem",
    "--key",
    "/k.pem",
    "--allow-origin",
    "https://app.example.com",
    "--max-connections",
    "50",
    "--trust-proxy",
    "10.0.0.2",
    "--trust-proxy",
    "[::1]",
    "--header-timeout-ms",
    "2500",
  ]);
  assert.equal(pageOrigin(options), "https://127.0.0.1:8443");
  assert.deepEqual(gateFlags(options), [
    "--cert",
    "/c.pem",
    "--key",
    "/k.pem",
    "--allow-origin",
    "https://127.0.0.1:8443",
    "--allow-origin",
    "https://app.example.com",
    "--trust-proxy",
    "10.0.0.2",
    "--trust-proxy",
    "::1",
    "--max-connections",
    "50",
    "--header-timeout-ms",
    "2500",
  ]);
  const wildcard = await loadSuiteConfig(["--host", "0.0.0.0", "--allow-origin", "https://a.b"]);
  assert.throws(() => gateFlags(wildcard.options), /publicOrigin \(or --public-origin\) is needed/);
  await assert.rejects(
    loadSuiteConfig(["--trust-proxy", "10.0.0.0/8"]),
    /^TypeError: Flag --trust-proxy must be an IP address, not "10.0.0.0\/8"/,
  );
  await assert.rejects(
    loadSuiteConfig(["--header-timeout-ms", "5"]),
    /^TypeError: Flag --header-timeout-ms must be an integer of at least 10, not "5"/,
  );
  await withConfig(
    { trustProxy: ["10.0.0.2"], limits: { headerTimeoutMs: 3000 } },
    async (path) => {
      const fromFile = await loadSuiteConfig(["--config", path]);
      assert.deepEqual(gateFlags(fromFile.options), [
        "--trust-proxy",
        "10.0.0.2",
        "--header-timeout-ms",
        "3000",
      ]);
      const flagsWin = await loadSuiteConfig(["--config", path, "--trust-proxy", "10.0.0.3"]);
      assert.deepEqual(
        flagsWin.options.trustProxy,
        ["10.0.0.3"],
        "the flags replace the file's list",
      );
    },
  );
});

Deno.test("every process: a bad flag prints one line and the hint, not the help", async () => {
  const tasks = [
    "supervisor",
    "gate:only",
    "login",
    "group",
    "echo",
    "license",
    "license:status",
    "license:issue",
    "license:keygen",
    "login:migrate",
  ];
  for (const task of tasks) {
    for (const args of [["--no-such-flag"], ["--log-level", "loud"]]) {
      if (task === "gate:only" && args[0] === "--log-level") continue; // not the gate's yet
      const output = await new Deno.Command(Deno.execPath(), {
        args: [...taskArgs(task), ...args],
        cwd: ROOT_DIR,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const lines = new TextDecoder().decode(output.stderr).trim().split("\n");
      const what = `${task} ${args.join(" ")}: ${lines.join(" | ")}`;
      assert.equal(output.code, 2, what);
      assert.equal(lines.length, 2, what);
      assert.equal(lines[1], "Run with --help for the flags", what);
    }
  }
});

Deno.test({
  name: "config: a supervisor started from a config file with TLS serves wss:// and login works",
  ...INTEGRATION,
  ignore: opensslNeeded.ignore,
  async fn() {
    opensslNeeded.check();
    const dataDir = await tempDataDir();
    const files = await makeCertificate(dataDir);
    const [port, tcpPort, licensePort, groupMetrics] = freePorts(4);
    const config = {
      dataDir,
      port,
      tcpPort,
      licensePort,
      tls: { cert: files.cert, key: files.key },
      allowOrigins: ["https://app.example.com"],
      trustProxy: ["10.0.0.2", "::1"],
      limits: { maxConnections: 100, rate: 50, headerTimeoutMs: 3000 },
      log: { format: "json" },
      metricsPorts: { group: groupMetrics },
    };
    await Deno.writeTextFile(`${dataDir}/gatehouse.json`, JSON.stringify(config));
    // The children inherit DENO_CERT: the services trust the test CA on their tls:// link.
    const supervisor = await startProcess({
      task: "supervisor",
      args: ["--config", `${dataDir}/gatehouse.json`],
      env: { DENO_CERT: files.ca },
      ready: /"event":"ready","web":"(https:\/\/[^"]+)"/,
      timeoutMs: 60_000,
    });
    try {
      assert.equal(supervisor.match[1], `https://127.0.0.1:${port}/`);
      await supervisor.waitForLine(/"process":"login-\d+","event":"registered"/, {
        timeoutMs: 30_000,
      });
      const pids = await Deno.readTextFile(`${dataDir}/gatehouse.pid`);
      const gatePid = pids.match(/^gate (\d+)$/m)![1];
      const gateArgs = (await Deno.readTextFile(`/proc/${gatePid}/cmdline`)).split("\0");
      const origins = gateArgs.flatMap((arg, i) =>
        arg === "--allow-origin" ? [gateArgs[i + 1]] : []
      );
      assert.deepEqual(origins, [`https://127.0.0.1:${port}`, "https://app.example.com"]);
      assert.equal(gateArgs[gateArgs.indexOf("--max-connections") + 1], "100");
      const proxies = gateArgs.flatMap((arg, i) =>
        arg === "--trust-proxy" ? [gateArgs[i + 1]] : []
      );
      assert.deepEqual(proxies, ["10.0.0.2", "::1"]);
      assert.equal(gateArgs[gateArgs.indexOf("--header-timeout-ms") + 1], "3000");

      // A WebSocket takes no CA option: the probe runs with DENO_CERT pointing at the test CA.
      const probe = `
        import { GateClient } from "${ROOT_DIR}/client/mod.ts";
        const client = new GateClient({ url: Deno.args[0], reconnect: false });
        await client.connect();
        const username = "tls" + crypto.randomUUID().replace(/-/g, "").slice(0, 10);
        await client.register({ username, password: "secret123" });
        const login = await client.login({ username, password: "secret123" });
        const heart = await client.request("cs_msg_heart");
        console.log(JSON.stringify({ userId: login.userId, heart: heart.state }));
        client.close();
      `;
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["eval", probe, `wss://127.0.0.1:${port}/ws`],
        env: { DENO_CERT: files.ca },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
      const result = JSON.parse(new TextDecoder().decode(output.stdout).trim());
      assert.ok(result.userId > 0, "registered and logged in over wss://");
      assert.equal(result.heart, State.OK);

      // metricsPorts reach the group service, at the supervisor's host.
      await supervisor.waitForLine(/"event":"metrics listening"/);
      const metrics = await fetch(`http://127.0.0.1:${groupMetrics}/metrics`);
      assert.match(await metrics.text(), /^gatehouse_group_groups 0$/m);
    } finally {
      await supervisor.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("supervisor --help: the gate's --trust-proxy and --header-timeout-ms, SIGHUP", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs("supervisor"), "--help"],
    cwd: ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0);
  const help = new TextDecoder().decode(output.stdout);
  assert.match(help, /--trust-proxy ADDR/);
  assert.match(help, /--header-timeout-ms N/);
  assert.match(help, /SIGHUP \(systemctl reload\) is forwarded to the license server alone/);
});
