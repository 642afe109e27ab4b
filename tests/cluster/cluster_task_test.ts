/**
 * `deno task cluster` end to end (issue 16): nats-server, PostgreSQL when installed (SQLite's
 * shared file otherwise, or with `--store sqlite`), two gates, a login and a group instance on
 * each, the license server once. Both gates become ready, an account registered through gate A
 * logs in through gate B (and, with the login's `--cluster`, a second login through gate A ends
 * that session), and SIGINT leaves no process behind, PostgreSQL included.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GateClient, State } from "../../client/mod.ts";
import { LoginCmd } from "../../shared/mod.ts";
import { serviceFlags } from "../../server/supervisor/cluster_plan.ts";
import { readPidFile } from "../../server/supervisor/pid_file.ts";
import { natsServerTool } from "../helpers/nats.ts";
import {
  clusterTaskArgs,
  interruptClusterTask,
  startClusterTask,
} from "../helpers/cluster_task.ts";
import { processAlive, ROOT_DIR } from "../helpers/process.ts";
import { INTEGRATION, waitFor } from "../helpers/suite.ts";
import { localPostgresTool } from "../helpers/postgres.ts";

const natsServer = natsServerTool();
const { tool: postgres } = await localPostgresTool();

/** The pid of the child `name` in the data dir's pid file. */
async function childPid(dataDir: string, name: string): Promise<number> {
  const text = await Deno.readTextFile(`${dataDir}/gatehouse.pid`);
  return Number(text.match(new RegExp(`^${name} (\\d+)$`, "m"))![1]);
}

/**
 * Whether the gate holds a user bound to this client: a change of password to the same one needs
 * a login (else `NOT_LOGGED_IN`) and is then refused before anything is checked or written.
 */
async function isBound(client: GateClient): Promise<boolean> {
  const answer = await client.request(LoginCmd.CHANGE_PW, {
    password: "secret123",
    newPassword: "secret123",
  });
  if (answer.state === State.NOT_LOGGED_IN) return false;
  assert.equal(answer.state, State.FAIL, `unexpected answer ${JSON.stringify(answer)}`);
  return true;
}

/** `/readyz`'s status. */
async function readyStatus(httpUrl: string): Promise<number> {
  const response = await fetch(`${httpUrl}/readyz`);
  await response.body?.cancel();
  return response.status;
}

/** Runs the cluster task with `store`, checks it, stops it; returns which store it used. */
async function clusterRound(store: "auto" | "sqlite"): Promise<"postgres" | "sqlite"> {
  const dataDir = await Deno.makeTempDir({ prefix: "gatehouse_cluster_" });
  // The postgres user must reach DIR/postgres: search permission on the folder, nothing more.
  await Deno.chmod(dataDir, 0o711);
  const task = await startClusterTask({
    dataDir,
    args: ["--store", store],
    timeoutMs: 90_000,
  });
  const demo = task.process;
  let used: "postgres" | "sqlite";
  const takes = await serviceFlags();
  try {
    const accounts = demo.lines.find((line) => /cluster accounts store=/.test(line))!;
    assert.ok(accounts, "one line says which accounts store runs");
    used = /store=postgres/.test(accounts) ? "postgres" : "sqlite";
    await waitFor(async () => (await readyStatus(task.gateA.httpUrl)) === 200, {
      what: "gate A ready",
      timeoutMs: 30_000,
    });
    await waitFor(async () => (await readyStatus(task.gateB.httpUrl)) === 200, {
      what: "gate B ready",
      timeoutMs: 30_000,
    });
    // Two login and two group instances, one of each per gate; the license server once.
    const names = (await Deno.readTextFile(`${dataDir}/gatehouse.pid`)).trim().split("\n")
      .slice(1).map((line) => line.split(" ")[0]).sort();
    assert.deepEqual(names, [
      "gate-a",
      "gate-b",
      "group-a",
      "group-b",
      "license",
      "login-a",
      "login-b",
      "nats",
    ]);

    const username = `cl${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const onA = new GateClient({ url: task.gateA.wsUrl, reconnect: false });
    await onA.connect();
    try {
      await onA.register({ username, password: "secret123" });
    } finally {
      onA.close();
    }
    const onB = new GateClient({ url: task.gateB.wsUrl, reconnect: false });
    await onB.connect();
    const again = new GateClient({ url: task.gateA.wsUrl, reconnect: false });
    try {
      const login = await onB.login({ username, password: "secret123" });
      assert.ok(login.userId > 0, "the account registered on gate A logs in on gate B");
      assert.equal(await isBound(onB), true);
      if (takes.loginCluster) {
        // The login instances share one session registry in NATS: a login through gate A ends
        // the session on gate B, whichever instance handles each.
        const loginA = await Deno.readTextFile(
          `/proc/${await childPid(dataDir, "login-a")}/cmdline`,
        );
        assert.ok(loginA.split("\0").includes("--cluster"), "login-a runs with --cluster");
        await again.connect();
        await again.login({ username, password: "secret123" });
        await waitFor(async () => !(await isBound(onB)), {
          what: "the session on gate B ended by the login on gate A",
        });
        assert.equal(await isBound(again), true);
      }
    } finally {
      onB.close();
      again.close();
    }
    if (used === "postgres") {
      await assert.rejects(
        Deno.stat(`${dataDir}/login.sqlite`),
        "the accounts are in PostgreSQL, not in a SQLite file",
      );
      // Both login instances use it; its password is on no command line and in no log line.
      const { password } = JSON.parse(await Deno.readTextFile(`${dataDir}/postgres.json`));
      for (const name of ["login-a", "login-b"]) {
        const args = (await Deno.readTextFile(`/proc/${await childPid(dataDir, name)}/cmdline`))
          .split("\0");
        assert.match(
          args[args.indexOf("--db") + 1],
          /^postgres:\/\/gatehouse@127\.0\.0\.1:\d+\/gatehouse$/,
        );
        assert.ok(!args.join(" ").includes(password), `${name}'s command line holds no password`);
      }
      assert.ok(!demo.lines.some((line) => line.includes(password)), "no log line holds it");
    } else {
      await Deno.stat(`${dataDir}/login.sqlite`);
    }

    const pids = (await readPidFile(`${dataDir}/gatehouse.pid`)).slice(1);
    let postmaster: number | undefined;
    if (used === "postgres") {
      const text = await Deno.readTextFile(`${dataDir}/postgres/data/postmaster.pid`);
      postmaster = Number(text.split("\n")[0]);
      assert.ok(processAlive(postmaster), "PostgreSQL runs");
      pids.push(postmaster);
    }
    const status = await interruptClusterTask(task, { killAfterMs: 30_000 });
    assert.equal(status.code, 0, demo.lines.slice(-20).join("\n"));
    for (const pid of pids) assert.equal(processAlive(pid), false, `process ${pid} still runs`);
    if (postmaster !== undefined) {
      assert.ok(demo.lines.some((line) => /cluster postgres stopped pid=/.test(line)));
      await assert.rejects(Deno.stat(`${dataDir}/postgres/data/postmaster.pid`));
    }
  } finally {
    demo.kill("SIGKILL");
    await demo.status;
    await Deno.remove(dataDir, { recursive: true });
  }
  return used;
}

Deno.test({
  name:
    "deno task cluster: PostgreSQL when installed, 2 gates ready, register on A and log in on B, SIGINT stops all",
  ...INTEGRATION,
  ignore: natsServer.ignore || postgres.ignore,
  async fn() {
    natsServer.check();
    postgres.check();
    const used = await clusterRound("auto");
    if ((await serviceFlags()).loginDb) {
      assert.equal(used, "postgres");
    } else {
      // Until the login service takes --db, the demo says so and keeps SQLite.
      assert.equal(used, "sqlite");
    }
  },
});

Deno.test({
  name: "deno task cluster --store sqlite: both login instances share one SQLite file",
  ...INTEGRATION,
  ignore: natsServer.ignore,
  async fn() {
    natsServer.check();
    assert.equal(await clusterRound("sqlite"), "sqlite");
  },
});

Deno.test("deno task cluster: a bad flag is one sentence and exit 2", async () => {
  for (
    const [args, sentence] of [
      [["--store", "mysql"], 'Flag --store must be one of auto, postgres, sqlite, not "mysql"'],
      [["--pg-port", "99999"], 'Flag --pg-port must be a port from 0 to 65535, not "99999"'],
    ]
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...clusterTaskArgs(), ...args],
      cwd: ROOT_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(output.stderr).trim().split("\n");
    assert.equal(output.code, 2, lines.join("\n"));
    assert.deepEqual(lines, [sentence, "Run with --help for the flags"]);
  }
});
