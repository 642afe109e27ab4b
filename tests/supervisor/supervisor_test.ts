import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { queryStatus } from "../../server/license/status.ts";
import { readPidFile } from "../../server/supervisor/pid_file.ts";
import { makeLicenseDir, runTaskOk } from "../license/license_fixtures.ts";
import { processAlive, startProcess, tempDataDir } from "../helpers/process.ts";
import { connectClient, freePorts, INTEGRATION, waitFor } from "../helpers/suite.ts";

/** Starts the supervisor the way `deno task gate` does, minus the build step. */
function startSupervisor(dataDir: string, ports: number[]) {
  return startProcess({
    task: "supervisor",
    args: [
      "--data-dir",
      dataDir,
      "--port",
      String(ports[0]),
      "--tcp-port",
      String(ports[1]),
      "--license-port",
      String(ports[2]),
    ],
    ready: /supervisor ready web=(\S+)/,
  });
}

Deno.test({
  name:
    "supervisor: a stale pid file's process is ended, a killed child restarts, SIGTERM stops all",
  ...INTEGRATION,
  async fn(t) {
    const dataDir = await tempDataDir();
    const ports = freePorts(3);
    // A process of ours left behind by an earlier run, named in a stale pid file.
    const stale = await startProcess({
      task: "echo",
      args: ["--gate", "ws://127.0.0.1:9/ws", "--data-dir", dataDir, "--name", "stale"],
      ready: /starting pid=/,
      env: { GATEHOUSE_SSKEY: "stale-key" },
    });
    await Deno.writeTextFile(`${dataDir}/gatehouse.pid`, `${stale.child.pid}\n`);
    const supervisor = await startSupervisor(dataDir, ports);
    try {
      await t.step("the stale process is ended at start", async () => {
        await stale.status;
        assert.ok(supervisor.lines.some((l) => /ending stale process pid=/.test(l)));
      });

      await t.step("the pid file names the supervisor and its children", async () => {
        // The children start one after another; the file grows as each one starts.
        let pids: number[] = [];
        await waitFor(async () => {
          pids = await readPidFile(`${dataDir}/gatehouse.pid`);
          return pids.length >= 5;
        }, { what: "the supervisor and its 4 children in the pid file" });
        assert.equal(pids[0], supervisor.child.pid);
      });

      await t.step("a child killed with SIGKILL is restarted and clients recover", async () => {
        const client = await connectClient(`ws://127.0.0.1:${ports[0]}/ws`, {
          reconnect: true,
          backoffMaxMs: 300,
        });
        assert.equal((await client.request("cs_msg_heart")).state, State.OK);
        const text = await Deno.readTextFile(`${dataDir}/gatehouse.pid`);
        const gatePid = Number(text.match(/^gate (\d+)$/m)![1]);
        const from = supervisor.lines.length;
        Deno.kill(gatePid, "SIGKILL");
        await supervisor.waitForLine(/child restarting child=gate/, { from });
        await supervisor.waitForLine(/gate listening/, { from });
        await waitFor(async () => {
          try {
            return (await client.request("cs_msg_heart", {}, { timeoutMs: 500 })).state ===
              State.OK;
          } catch {
            return false;
          }
        }, { what: "the client back on the restarted gate" });
        client.close();
        const newPids = await readPidFile(`${dataDir}/gatehouse.pid`);
        assert.ok(!newPids.includes(gatePid), "the pid file follows the restart");
      });

      await t.step("SIGTERM stops every child and exits 0", async () => {
        const children = (await readPidFile(`${dataDir}/gatehouse.pid`)).slice(1);
        assert.equal(await supervisor.stop(), 0);
        for (const pid of children) {
          assert.equal(processAlive(pid), false, `child ${pid} still runs`);
        }
        await assert.rejects(Deno.stat(`${dataDir}/gatehouse.pid`));
      });
    } finally {
      supervisor.kill("SIGKILL");
      stale.kill("SIGKILL");
    }
  },
});

Deno.test({
  name: "supervisor: SIGHUP reloads the license server's license and leaves every child running",
  ...INTEGRATION,
  async fn() {
    // The data dir holds a key pair and a license for "First Co" (the real license tasks).
    const dataDir = await makeLicenseDir({ customer: "First Co", seats: 2 });
    const ports = freePorts(3);
    const supervisor = await startSupervisor(dataDir, ports);
    try {
      await supervisor.waitForLine(/license listening/);
      const before = await readPidFile(`${dataDir}/gatehouse.pid`);
      assert.equal(before.length, 5, `the supervisor, gate, login, group, license: ${before}`);
      const first = await queryStatus({ host: "127.0.0.1", port: ports[2] });
      assert.equal(first.dog.customer, "First Co");

      // A new license in the data dir, then `systemctl reload`: SIGHUP to the supervisor alone.
      await runTaskOk("license:issue", [
        "--data-dir",
        dataDir,
        "--customer",
        "Second Co",
        "--seats",
        "7",
        "--expires",
        "2099-12-31",
      ]);
      const from = supervisor.lines.length;
      supervisor.kill("SIGHUP");
      await supervisor.waitForLine(/supervisor signal forwarded signal=SIGHUP child=license/, {
        from,
      });
      await supervisor.waitForLine(/license license loaded customer="?Second Co/, { from });
      await supervisor.waitForLine(/license reloaded seats=7/, { from });

      const second = await queryStatus({ host: "127.0.0.1", port: ports[2] });
      assert.equal(second.dog.customer, "Second Co");
      assert.equal(second.seats, 7);
      assert.ok(second.uptimeS >= first.uptimeS, "the same license server, not a restarted one");
      assert.deepEqual(
        await readPidFile(`${dataDir}/gatehouse.pid`),
        before,
        "the same pids: nothing restarted",
      );
      for (const pid of before) assert.ok(processAlive(pid), `process ${pid} still runs`);
      const after = supervisor.lines.slice(from);
      assert.ok(!after.some((l) => /child exited|child restarting/.test(l)), after.join("\n"));
      const client = await connectClient(`ws://127.0.0.1:${ports[0]}/ws`);
      assert.equal((await client.request("cs_msg_heart")).state, State.OK);
      client.close();
      assert.equal(await supervisor.stop(), 0);
    } finally {
      supervisor.kill("SIGKILL");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
