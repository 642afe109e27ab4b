/**
 * `--services` (issue 16): which children a supervisor runs, checked as flags and as the config
 * file's `services` and `gate` keys; the real supervisor refusing a bad name is in
 * supervisor_services_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { gateFlags, loadSuiteConfig, loginDb } from "../../server/supervisor/config.ts";
import { requiredServices } from "../../server/supervisor/main.ts";
import { configFromJson } from "../../server/supervisor/config_file.ts";
import {
  checkGateUrl,
  checkServicePlan,
  parseServices,
  SERVICE_NAMES,
} from "../../server/supervisor/services.ts";

Deno.test("services: names are checked, kept in start order, without repeats", () => {
  assert.deepEqual(parseServices("group, login,login", "Flag --services"), ["login", "group"]);
  assert.deepEqual(parseServices(["license", "gate"], "x"), ["gate", "license"]);
  assert.throws(
    () => parseServices("gate,chat", "Flag --services"),
    {
      name: "TypeError",
      message:
        'Flag --services names "chat", which is not a service: the valid ones are gate, login, group, license',
    },
  );
  assert.throws(() => parseServices(" , ", "Flag --services"), {
    message: "Flag --services must name at least one of gate, login, group, license",
  });
  assert.throws(() => parseServices("Gate", "Flag --services"), /names "Gate", which is not/);
});

Deno.test("services: --gate is a gate's URL, and only without the gate here", () => {
  assert.equal(checkGateUrl("tcp://10.0.0.5:8081", "Flag --gate"), "tcp://10.0.0.5:8081");
  assert.equal(checkGateUrl("wss://chat.example.com:443/ws", "g"), "wss://chat.example.com:443/ws");
  for (const bad of ["10.0.0.5:8081", "http://a:1", "tcp://a", "nonsense"]) {
    assert.throws(() => checkGateUrl(bad, "Flag --gate"), {
      message: new RegExp(`^Flag --gate must be a gate's URL like tcp://10.0.0.5:8081 .*, not "`),
    });
  }
  checkServicePlan(["gate", "login"]);
  checkServicePlan(["license"]);
  checkServicePlan(["login", "group"], "tcp://10.0.0.5:8081");
  assert.throws(
    () => checkServicePlan(["login", "group"]),
    /^TypeError: Services login and group need a gate: add gate to --services, or give --gate/,
  );
  assert.throws(
    () => checkServicePlan(["gate", "login"], "tcp://10.0.0.5:8081"),
    /^TypeError: Flag --gate \(config key gate\) names a gate on another machine/,
  );
});

Deno.test("services: the default is all four; flags and the config file name a subset", async () => {
  assert.deepEqual((await loadSuiteConfig([])).options.services, [...SERVICE_NAMES]);
  const flags = await loadSuiteConfig([
    "--services",
    "login,group",
    "--gate",
    "tcp://10.0.0.5:8081",
  ]);
  assert.deepEqual(flags.options.services, ["login", "group"]);
  assert.equal(flags.options.gate, "tcp://10.0.0.5:8081");
  await assert.rejects(
    loadSuiteConfig(["--services", "login"]),
    /Services login need a gate/,
  );
  const file = configFromJson({ services: ["group", "login"], gate: "tls://gw.lan:8081" }, "/");
  assert.deepEqual(file.services, ["login", "group"]);
  assert.equal(file.gate, "tls://gw.lan:8081");
  assert.throws(() => configFromJson({ services: "login" }, "/"), {
    message: 'Config key services must be an array of names, e.g. ["login", "group"]',
  });
  assert.throws(() => configFromJson({ services: ["login", "web"] }, "/"), {
    message:
      'Config key services names "web", which is not a service: the valid ones are gate, login, group, license',
  });
  assert.throws(() => configFromJson({ gate: "gw.lan:8081" }, "/"), /^TypeError: Config key gate/);
});

Deno.test("services: cluster mode from flags or the file reaches the gate; what /readyz waits for", async () => {
  const { options } = await loadSuiteConfig([
    "--services",
    "gate,license",
    "--cluster",
    "nats://10.0.0.9:4222, nats://10.0.0.10:4222",
    "--gate-id",
    "front-1",
    "--cluster-creds",
    "/etc/gatehouse/nats.json",
  ]);
  assert.deepEqual(options.cluster, {
    nats: ["nats://10.0.0.9:4222", "nats://10.0.0.10:4222"],
    gateId: "front-1",
    creds: "/etc/gatehouse/nats.json",
  });
  assert.deepEqual(gateFlags(options), [
    "--cluster",
    "nats://10.0.0.9:4222,nats://10.0.0.10:4222",
    "--gate-id",
    "front-1",
    "--cluster-creds",
    "/etc/gatehouse/nats.json",
  ]);
  // The gate waits for login and group wherever they run (in a cluster, on any gate).
  assert.deepEqual(requiredServices(), ["login", "group"]);
  const file = configFromJson(
    { cluster: { nats: ["nats://n1:4222"], gateId: "b", creds: "nats.json" } },
    "/etc/gatehouse",
  );
  assert.deepEqual(file.cluster, {
    nats: ["nats://n1:4222"],
    gateId: "b",
    creds: "/etc/gatehouse/nats.json",
  });
  await assert.rejects(loadSuiteConfig(["--gate-id", "a"]), {
    message: "Flags --gate-id and --cluster-creds need --cluster (or the config key cluster.nats)",
  });
  await assert.rejects(loadSuiteConfig(["--cluster", "http://n1:4222"]), {
    message: 'Flag --cluster takes nats://host:port URLs, not "http://n1:4222"',
  });
  assert.throws(() => configFromJson({ cluster: { nats: "nats://n1:4222", gateId: "a b" } }, "/"), {
    message: `Config key cluster.gateId must be 1 to 64 letters, digits, '_' or '-', not "a b"`,
  });
});

Deno.test("services: --db reaches login without its password on the command line", async () => {
  const { options } = await loadSuiteConfig([
    "--services",
    "login",
    "--gate",
    "tcp://10.0.0.5:8081",
    "--db",
    "postgres://gatehouse:p%40ss@db.lan:5432/gatehouse",
  ]);
  assert.deepEqual(loginDb(options.loginDb!), {
    args: ["--db", "postgres://gatehouse@db.lan:5432/gatehouse"],
    env: { PGPASSWORD: "p@ss" },
  });
  assert.deepEqual(loginDb("postgres://gatehouse@db.lan/gatehouse").env, {});
  await assert.rejects(loadSuiteConfig(["--db", "mysql://db.lan/x"]), {
    message: "Flag --db must be postgres://user:pass@host:port/db",
  });
  assert.equal(
    configFromJson({ loginDb: "postgresql://u:p@db.lan/accounts" }, "/").loginDb,
    "postgresql://u:p@db.lan/accounts",
  );
  assert.throws(() => configFromJson({ loginDb: "postgres://db.lan" }, "/"), {
    message: "Config key loginDb must be postgres://user:pass@host:port/db",
  });
});
