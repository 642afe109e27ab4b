/**
 * What `deno task cluster` runs on each gate (cluster_plan.ts): the flags each instance gets,
 * `--db` and the NATS flags only when this checkout's services take them.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  clusterGateSpec,
  gateServiceSpecs,
  helpLists,
  serviceFlags,
} from "../../server/supervisor/cluster_plan.ts";

/** The value after `flag` in `args`, or undefined. */
function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}

Deno.test("cluster plan: a help text lists a flag only at a line's start", () => {
  const help = "  --db URL          keep the accounts\n  --cluster-creds FILE  creds\n";
  assert.equal(helpLists(help, "--db"), true);
  assert.equal(helpLists(help, "--cluster-creds"), true);
  assert.equal(helpLists(help, "--cluster"), false, "--cluster-creds is not --cluster");
  assert.equal(helpLists("see --db in the README", "--db"), false);
});

Deno.test("cluster plan: gate b takes the ports + 2 and waits for its own login and group", () => {
  const spec = clusterGateSpec({
    id: "b",
    index: 1,
    dataDir: "/d",
    host: "127.0.0.1",
    port: 8080,
    tcpPort: 8081,
    nats: "nats://127.0.0.1:4222",
    creds: "/d/nats-gate.json",
  });
  assert.equal(spec.name, "gate-b");
  assert.equal(after(spec.args, "--port"), "8082");
  assert.equal(after(spec.args, "--tcp-port"), "8083");
  assert.equal(after(spec.args, "--gate-id"), "b");
  assert.equal(after(spec.args, "--cluster-creds"), "/d/nats-gate.json");
  assert.equal(after(spec.args, "--require-services"), "login,group");
});

Deno.test("cluster plan: --db and the NATS flags go only to services that take them", () => {
  const options = {
    gate: "a",
    gateUrl: "tcp://127.0.0.1:8081",
    dataDir: "/d",
    db: "postgres://gatehouse:pw@127.0.0.1:5432/gatehouse",
    nats: { url: "nats://127.0.0.1:4222", creds: "/d/nats-gate.json" },
  };
  const all = gateServiceSpecs({
    ...options,
    loginEnv: { PGPASSWORD: "pw" },
    takes: { loginDb: true, loginCluster: true, groupCluster: false },
  });
  assert.deepEqual(all.map((spec) => spec.name), ["login-a", "group-a"]);
  const [login, group] = all;
  assert.equal(after(login.args, "--gate"), "tcp://127.0.0.1:8081");
  assert.equal(after(login.args, "--name"), "login-a");
  assert.equal(after(login.args, "--db"), options.db);
  assert.equal(after(login.args, "--cluster"), "nats://127.0.0.1:4222");
  assert.equal(after(login.args, "--cluster-creds"), "/d/nats-gate.json");
  assert.equal(after(group.args, "--name"), "group-a");
  assert.equal(group.args.includes("--cluster"), false);
  assert.deepEqual(login.env, { PGPASSWORD: "pw" });
  assert.equal(group.env, undefined, "the password reaches login alone");
  const none = gateServiceSpecs({
    ...options,
    takes: { loginDb: false, loginCluster: false, groupCluster: false },
  });
  assert.equal(none[0].args.includes("--db"), false, "no --db for a login that lacks it");
  assert.equal(none[0].args.includes("--cluster"), false);
});

Deno.test("cluster plan: this checkout's services are asked their --help", async () => {
  const takes = await serviceFlags();
  // The login service of this branch takes --db (the store) and --cluster (the sessions).
  assert.equal(takes.loginDb, true);
  assert.equal(takes.loginCluster, true);
  assert.equal(typeof takes.groupCluster, "boolean");
});
