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
import { startLocalPostgres } from "../../server/supervisor/local_postgres.ts";
import { localPostgresTool } from "../helpers/postgres.ts";
import {
  ROOT_DIR,
  type RunningProcess,
  startProcess,
  taskArgs,
  tempDataDir,
} from "../helpers/process.ts";
import { freePorts, INTEGRATION, waitFor } from "../helpers/suite.ts";

const natsServer = natsServerTool();
const { binDir: postgresBin, tool: postgresNeeded } = await localPostgresTool();

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

/** Options of {@linkcode startSupervisor}: its flags in the order given here. */
interface SupervisorOptions {
  dataDir: string;
  port?: number;
  tcpPort?: number;
  licensePort?: number;
  /** Flags after the ports (`--services`, `--gate`, `--cluster`, …). */
  args?: string[];
  /** Its ready line; the one of a supervisor that runs a gate unless told. */
  ready?: RegExp;
}

/** Starts the real supervisor (`deno task supervisor`); resolves at its ready line. */
function startSupervisor(options: SupervisorOptions): Promise<RunningProcess> {
  const ports: Array<[string, number | undefined]> = [
    ["--port", options.port],
    ["--tcp-port", options.tcpPort],
    ["--license-port", options.licensePort],
  ];
  return startProcess({
    task: "supervisor",
    args: [
      "--data-dir",
      options.dataDir,
      ...ports.flatMap(([flag, port]) => port === undefined ? [] : [flag, String(port)]),
      ...(options.args ?? []),
    ],
    ready: options.ready ?? /supervisor ready web=(\S+)/,
    timeoutMs: 60_000,
  });
}

/** Copies the service key from one machine's data dir to another's, as an operator would. */
async function copyServiceKey(fromDir: string, toDir: string): Promise<void> {
  await Deno.copyFile(`${fromDir}/sskey`, `${toDir}/sskey`);
  await Deno.chmod(`${toDir}/sskey`, 0o600);
}

/** The command line of the child `name` that the pid file in `dataDir` lists. */
async function childArgs(dataDir: string, name: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${dataDir}/gatehouse.pid`);
  const pid = text.match(new RegExp(`^${name} (\\d+)$`, "m"))![1];
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
}

/** A fresh username: `prefix` and random letters and digits, 6 to 16 in all. */
function freshName(prefix: string, length = 10): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, length)}`;
}

/** Runs `fn` with a client connected to the gate on `port`, closed after. */
async function withClient(port: number, fn: (client: GateClient) => Promise<void>): Promise<void> {
  const client = new GateClient({ url: `ws://127.0.0.1:${port}/ws`, reconnect: false });
  await client.connect();
  try {
    await fn(client);
  } finally {
    client.close();
  }
}

/** Registers `username` and logs it in; resolves with the login's userId. */
async function signUp(client: GateClient, username: string): Promise<number> {
  await client.register({ username, password: "secret123" });
  return (await client.login({ username, password: "secret123" })).userId;
}

Deno.test({
  name: "supervisor --services gate,login: only those children run, and it says so",
  ...INTEGRATION,
  async fn() {
    const dataDir = await tempDataDir();
    const [port, tcpPort, licensePort] = freePorts(3);
    const supervisor = await startSupervisor({
      dataDir,
      port,
      tcpPort,
      licensePort,
      args: ["--services", "login,gate"],
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
      await withClient(port, async (client) => {
        assert.ok((await signUp(client, freshName("sv"))) > 0);
        assert.equal((await client.request("cs_msg_group_list")).state, State.UNDEFINED_CMD);
      });
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
    const front = await startSupervisor({
      dataDir: gateDir,
      port,
      tcpPort,
      licensePort,
      args: ["--services", "gate,license"],
    });
    let back: RunningProcess | undefined;
    try {
      const httpUrl = `http://127.0.0.1:${port}`;
      const before = await readyz(httpUrl);
      assert.equal(before.status, 503, "not ready while no login or group has linked");
      assert.deepEqual(before.body.missing, ["login", "group"]);
      await waitFor(() => listening(licensePort), { what: "the license server on machine A" });

      // Machine B: the service key copied from A, as an operator would.
      await copyServiceKey(gateDir, servicesDir);
      back = await startSupervisor({
        dataDir: servicesDir,
        args: ["--services", "login,group", "--gate", `tcp://127.0.0.1:${tcpPort}`],
        ready: /supervisor ready services=login,group gate=tcp:\/\/127.0.0.1:\d+/,
      });
      await back.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
      await back.waitForLine(/group-\d+ registered/, { timeoutMs: 30_000 });
      assert.deepEqual(await childNames(servicesDir), ["group", "login"]);
      assert.deepEqual(await childNames(gateDir), ["gate", "license"]);
      await waitFor(async () => (await readyz(httpUrl)).status === 200, {
        what: "gate A ready once B's services linked",
      });

      await withClient(port, async (client) => {
        assert.ok((await signUp(client, freshName("sb"))) > 0);
        assert.equal((await client.request("cs_msg_group_list")).state, State.OK);
      });
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
    const a = await startSupervisor({
      dataDir: dirA,
      port: ports[0],
      tcpPort: ports[1],
      licensePort: ports[2],
      args: cluster("a"),
    });
    let b: RunningProcess | undefined;
    try {
      await a.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
      b = await startSupervisor({
        dataDir: dirB,
        port: ports[3],
        tcpPort: ports[4],
        args: ["--services", "gate", ...cluster("b")],
      });
      assert.deepEqual(await childNames(dirB), ["gate"]);
      // Both gates wait for login and group, which in a cluster count on any gate: B is ready
      // once it has heard A's.
      const argsA = await childArgs(dirA, "gate");
      assert.equal(argsA[argsA.indexOf("--require-services") + 1], "login,group");
      assert.equal(argsA[argsA.indexOf("--gate-id") + 1], "a");
      const argsB = await childArgs(dirB, "gate");
      assert.equal(argsB[argsB.indexOf("--require-services") + 1], "login,group");
      assert.equal(argsB[argsB.indexOf("--cluster") + 1], nats.url);
      await waitFor(async () => (await readyz(`http://127.0.0.1:${ports[0]}`)).status === 200, {
        what: "gate A ready",
      });
      await waitFor(async () => (await readyz(`http://127.0.0.1:${ports[3]}`)).status === 200, {
        what: "gate B ready once it heard gate A's login and group",
      });

      await withClient(ports[3], async (client) => {
        const username = freshName("sc");
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
      });
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
    const gate = await startSupervisor({
      dataDir: front,
      port,
      tcpPort,
      licensePort,
      args: ["--services", "gate,license"],
    });
    const services: RunningProcess[] = [];
    try {
      for (const dir of backs) {
        await copyServiceKey(front, dir);
        const back = await startSupervisor({
          dataDir: dir,
          args: ["--services", "login,group", "--gate", `tcp://127.0.0.1:${tcpPort}`, "--db", db],
          ready: /supervisor ready services=login,group/,
        });
        services.push(back);
        await back.waitForLine(/login-\d+ registered/, { timeoutMs: 30_000 });
        const args = await childArgs(dir, "login");
        assert.equal(args[args.indexOf("--db") + 1], db.replace(`:${password}@`, "@"));
        assert.ok(!args.join(" ").includes(password), "no password on the command line");
      }
      // The gate shares requests between the two login instances: every account, whichever
      // instance registered it, logs in through either, since both keep it in PostgreSQL.
      await withClient(port, async (client) => {
        for (let i = 0; i < 6; i++) {
          assert.ok((await signUp(client, freshName(`pg${i}`, 9))) > 0);
        }
      });
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
