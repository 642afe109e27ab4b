/**
 * The real supervisor with `--services` (issue 16): a subset runs only those children, a bad name
 * is refused with a sentence, a services-only supervisor links its services to a gate that
 * another supervisor runs, and a gate-only supervisor joins another's gate over NATS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { readPidFile } from "../../server/supervisor/pid_file.ts";
import { natsServerTool, startNats } from "../helpers/nats.ts";
import { createLogger } from "../../server/log.ts";
import { findPostgres, startLocalPostgres } from "../../server/supervisor/local_postgres.ts";
import { requireTool } from "../helpers/tool.ts";
import { ROOT_DIR, startProcess, taskArgs, tempDataDir } from "../helpers/process.ts";
import { freePorts, INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();
const postgresBin = await findPostgres();
const postgresNeeded = requireTool({
  name: "PostgreSQL",
  found: postgresBin !== undefined,
  install: "apt-get install postgresql",
});

/** The names in a pid file (after the supervisor's own line). */
async function childNames(dataDir: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${dataDir}/gatehouse.pid`);
  return text.trim().split("\n").slice(1).map((line) => line.split(" ")[0]).sort();
}

/** Whether something accepts connections on a loopback port. */
async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** `/readyz`'s status and body. */
async function readyz(httpUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${httpUrl}/readyz`);
  return { status: response.status, body: await response.json() };
}

Deno.test({
  name: "supervisor --services gate,login: only those children run, and it says so",
  ...INTEGRATION,
  async fn() {
    const dataDir = await tempDataDir();
    const [port, tcpPort, licensePort] = freePorts(3);
    const supervisor = await startProcess({
      task: "supervisor",
      args: [
        "--data-dir",
        dataDir,
        "--port",
        String(port),
        "--tcp-port",
        String(tcpPort),
        "--license-port",
        String(licensePort),
        "--services",
        "login,gate",
      ],
      ready: /supervisor ready web=(\S+)/,
      timeoutMs: 60_000,
    });
    try {
      assert.ok(
        supervisor.lines.some((line) => /supervisor services run=gate,login$/.test(line)),
        "one line says what runs",
      );
      await supervisor.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
      assert.deepEqual(await childNames(dataDir), ["gate", "login"]);
      assert.ok(!supervisor.lines.some((l) => /child started child=(group|license)/.test(l)));
      assert.equal(await listening(licensePort), false, "no license server");
      // The gate still waits for group: it may link from another machine.
      const ready = await readyz(`http://127.0.0.1:${port}`);
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.body.missing, ["group"]);
      // Login works through the gate.
      const client = new GateClient({ url: `ws://127.0.0.1:${port}/ws`, reconnect: false });
      await client.connect();
      try {
        const username = `sv${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
        await client.register({ username, password: "secret123" });
        const login = await client.login({ username, password: "secret123" });
        assert.ok(login.userId > 0);
        assert.equal((await client.request("cs_msg_group_list")).state, State.UNDEFINED_CMD);
      } finally {
        client.close();
      }
      const children = (await readPidFile(`${dataDir}/gatehouse.pid`)).slice(1);
      assert.equal(await supervisor.stop(), 0);
      for (const pid of children) {
        await assert.rejects(Deno.stat(`/proc/${pid}`), `child ${pid} still runs`);
      }
    } finally {
      await supervisor.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("supervisor --services with a bad name: exit 2 and a sentence naming the valid ones", async () => {
  const cases: Array<[string[], string]> = [
    [
      ["--services", "gate,chat"],
      'Flag --services names "chat", which is not a service: the valid ones are gate, login, group, license',
    ],
    [
      ["--services", "login,group"],
      "Services login and group need a gate: add gate to --services, or give --gate with the URL " +
      "of a gate on another machine (e.g. tcp://10.0.0.5:8081)",
    ],
  ];
  for (const [args, sentence] of cases) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...taskArgs("supervisor"), ...args],
      cwd: ROOT_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(output.stderr).trim().split("\n");
    assert.equal(output.code, 2, lines.join("\n"));
    assert.ok(lines[0].includes(sentence), `${lines[0]} lacks ${sentence}`);
    assert.equal(lines[1], "Run with --help for the flags");
  }
});

Deno.test({
  name: "supervisor --services login,group --gate: the services link to another supervisor's gate",
  ...INTEGRATION,
  async fn() {
    const gateDir = await tempDataDir();
    const servicesDir = await tempDataDir();
    const [port, tcpPort, licensePort] = freePorts(3);
    // Machine A: the gate and the license server.
    const front = await startProcess({
      task: "supervisor",
      args: [
        "--data-dir",
        gateDir,
        "--port",
        String(port),
        "--tcp-port",
        String(tcpPort),
        "--license-port",
        String(licensePort),
        "--services",
        "gate,license",
      ],
      ready: /supervisor ready web=(\S+)/,
      timeoutMs: 60_000,
    });
    let back: Awaited<ReturnType<typeof startProcess>> | undefined;
    try {
      const httpUrl = `http://127.0.0.1:${port}`;
      const before = await readyz(httpUrl);
      assert.equal(before.status, 503, "not ready while no login or group has linked");
      assert.deepEqual(before.body.missing, ["login", "group"]);
      await waitFor(() => listening(licensePort), { what: "the license server on machine A" });

      // Machine B: the service key copied from A, as an operator would.
      await Deno.copyFile(`${gateDir}/sskey`, `${servicesDir}/sskey`);
      await Deno.chmod(`${servicesDir}/sskey`, 0o600);
      back = await startProcess({
        task: "supervisor",
        args: [
          "--data-dir",
          servicesDir,
          "--services",
          "login,group",
          "--gate",
          `tcp://127.0.0.1:${tcpPort}`,
        ],
        ready: /supervisor ready services=login,group gate=tcp:\/\/127.0.0.1:\d+/,
        timeoutMs: 60_000,
      });
      await back.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
      await back.waitForLine(/group-\d+ registered/, { timeoutMs: 30_000 });
      assert.deepEqual(await childNames(servicesDir), ["group", "login"]);
      assert.deepEqual(await childNames(gateDir), ["gate", "license"]);
      await waitFor(async () => (await readyz(httpUrl)).status === 200, {
        what: "gate A ready once B's services linked",
      });

      const client = new GateClient({ url: `ws://127.0.0.1:${port}/ws`, reconnect: false });
      await client.connect();
      try {
        const username = `sb${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
        await client.register({ username, password: "secret123" });
        const login = await client.login({ username, password: "secret123" });
        assert.ok(login.userId > 0);
        assert.equal((await client.request("cs_msg_group_list")).state, State.OK);
      } finally {
        client.close();
      }
      // The accounts are on machine B, where login runs.
      await Deno.stat(`${servicesDir}/login.sqlite`);
      await assert.rejects(Deno.stat(`${gateDir}/login.sqlite`));

      assert.equal(await back.stop(), 0);
      await waitFor(async () => (await readyz(httpUrl)).status === 503, {
        what: "gate A not ready once B stopped",
      });
      assert.equal(await front.stop(), 0);
    } finally {
      await back?.stop();
      await front.stop();
      await Deno.remove(gateDir, { recursive: true });
      await Deno.remove(servicesDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "supervisor --cluster: a gate-only supervisor joins another's gate over NATS and its users log in",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    const auth = { user: "gatehouse-gate", password: crypto.randomUUID() };
    const nats = await startNats({ auth });
    const dirA = await tempDataDir();
    const dirB = await tempDataDir();
    const creds = `${dirA}/nats-gate.json`;
    await Deno.writeTextFile(creds, JSON.stringify(auth), { mode: 0o600 });
    const ports = freePorts(5);
    const cluster = (
      id: string,
    ) => ["--cluster", nats.url, "--gate-id", id, "--cluster-creds", creds];
    // Machine A: the whole suite; machine B: a gate alone, whose users reach A's services.
    const a = await startProcess({
      task: "supervisor",
      args: [
        "--data-dir",
        dirA,
        "--port",
        String(ports[0]),
        "--tcp-port",
        String(ports[1]),
        "--license-port",
        String(ports[2]),
        ...cluster("a"),
      ],
      ready: /supervisor ready web=(\S+)/,
      timeoutMs: 60_000,
    });
    let b: Awaited<ReturnType<typeof startProcess>> | undefined;
    try {
      await a.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
      b = await startProcess({
        task: "supervisor",
        args: [
          "--data-dir",
          dirB,
          "--port",
          String(ports[3]),
          "--tcp-port",
          String(ports[4]),
          "--services",
          "gate",
          ...cluster("b"),
        ],
        ready: /supervisor ready web=(\S+)/,
        timeoutMs: 60_000,
      });
      assert.deepEqual(await childNames(dirB), ["gate"]);
      // Both gates wait for login and group, which in a cluster count on any gate: B is ready
      // once it has heard A's.
      const gatePid = (dir: string) =>
        Deno.readTextFile(`${dir}/gatehouse.pid`).then((t) => t.match(/^gate (\d+)$/m)![1]);
      const argsOf = async (dir: string) =>
        (await Deno.readTextFile(`/proc/${await gatePid(dir)}/cmdline`)).split("\0");
      const argsA = await argsOf(dirA);
      assert.equal(argsA[argsA.indexOf("--require-services") + 1], "login,group");
      assert.equal(argsA[argsA.indexOf("--gate-id") + 1], "a");
      const argsB = await argsOf(dirB);
      assert.equal(argsB[argsB.indexOf("--require-services") + 1], "login,group");
      assert.equal(argsB[argsB.indexOf("--cluster") + 1], nats.url);
      await waitFor(async () => (await readyz(`http://127.0.0.1:${ports[0]}`)).status === 200, {
        what: "gate A ready",
      });
      await waitFor(async () => (await readyz(`http://127.0.0.1:${ports[3]}`)).status === 200, {
        what: "gate B ready once it heard gate A's login and group",
      });

      const client = new GateClient({ url: `ws://127.0.0.1:${ports[3]}/ws`, reconnect: false });
      await client.connect();
      try {
        const username = `sc${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
        await waitFor(async () => {
          try {
            await client.register({ username, password: "secret123" });
            return true;
          } catch {
            return false; // gate B has not heard of A's login service yet
          }
        }, { what: "register through gate B" });
        const login = await client.login({ username, password: "secret123" });
        assert.ok(login.userId > 0, "a user of gate B logs in through A's login service");
      } finally {
        client.close();
      }
      assert.equal(await b.stop(), 0);
      assert.equal(await a.stop(), 0);
    } finally {
      await b?.stop();
      await a.stop();
      await nats.stop();
      await Deno.remove(dirA, { recursive: true });
      await Deno.remove(dirB, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "supervisor --services login,group --db: two services-only machines share one PostgreSQL behind a gate",
  ...INTEGRATION,
  ignore: postgresNeeded.ignore,
  async fn() {
    postgresNeeded.check();
    // The PostgreSQL of `deno task cluster` (local_postgres.ts), in a folder of its own.
    const pgDir = await tempDataDir();
    await Deno.chmod(pgDir, 0o711);
    const pg = await startLocalPostgres({
      binDir: postgresBin!,
      dataDir: pgDir,
      log: createLogger("test-postgres"),
    });
    const db = pg.url;
    const password = pg.password;
    const front = await tempDataDir();
    const backs = [await tempDataDir(), await tempDataDir()];
    const [port, tcpPort, licensePort] = freePorts(3);
    const gate = await startProcess({
      task: "supervisor",
      args: [
        "--data-dir",
        front,
        "--port",
        String(port),
        "--tcp-port",
        String(tcpPort),
        "--license-port",
        String(licensePort),
        "--services",
        "gate,license",
      ],
      ready: /supervisor ready web=(\S+)/,
      timeoutMs: 60_000,
    });
    const services: Array<Awaited<ReturnType<typeof startProcess>>> = [];
    try {
      for (const dir of backs) {
        await Deno.copyFile(`${front}/sskey`, `${dir}/sskey`);
        await Deno.chmod(`${dir}/sskey`, 0o600);
        const back = await startProcess({
          task: "supervisor",
          args: [
            "--data-dir",
            dir,
            "--services",
            "login,group",
            "--gate",
            `tcp://127.0.0.1:${tcpPort}`,
            "--db",
            db,
          ],
          ready: /supervisor ready services=login,group/,
          timeoutMs: 60_000,
        });
        services.push(back);
        await back.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
        const text = await Deno.readTextFile(`${dir}/gatehouse.pid`);
        const loginPid = text.match(/^login (\d+)$/m)![1];
        const args = (await Deno.readTextFile(`/proc/${loginPid}/cmdline`)).split("\0");
        assert.equal(args[args.indexOf("--db") + 1], db.replace(`:${password}@`, "@"));
        assert.ok(!args.join(" ").includes(password), "no password on the command line");
      }
      // The gate shares requests between the two login instances: every account, whichever
      // instance registered it, logs in through either, since both keep it in PostgreSQL.
      const client = new GateClient({ url: `ws://127.0.0.1:${port}/ws`, reconnect: false });
      await client.connect();
      try {
        for (let i = 0; i < 6; i++) {
          const username = `pg${i}${crypto.randomUUID().replaceAll("-", "").slice(0, 9)}`;
          await client.register({ username, password: "secret123" });
          assert.ok((await client.login({ username, password: "secret123" })).userId > 0);
        }
      } finally {
        client.close();
      }
      for (const [i, back] of services.entries()) {
        assert.ok(
          back.lines.some((line) => /login-\d+ database (created|opened) kind=postgres/.test(line)),
          `machine ${i}'s login uses PostgreSQL`,
        );
        await assert.rejects(Deno.stat(`${backs[i]}/login.sqlite`));
        assert.equal(await back.stop(), 0);
      }
      assert.equal(await gate.stop(), 0);
    } finally {
      for (const back of services) await back.stop();
      await gate.stop();
      await pg.stop();
      for (const dir of [front, pgDir, ...backs]) await Deno.remove(dir, { recursive: true });
    }
  },
});
