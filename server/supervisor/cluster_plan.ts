/**
 * What `deno task cluster` runs besides NATS and PostgreSQL: two gates (`a` and `b`) joined
 * over NATS, and on each of them a login and a group instance, with the flags each needs; and
 * which of those flags this checkout's services take (a service learns `--db` or `--cluster` in
 * a later version: the demo asks its `--help` rather than guess).
 *
 * @example
 * ```ts ignore
 * const takes = await serviceFlags();
 * const specs = gateServiceSpecs({ gate: "a", gateUrl: "tcp://127.0.0.1:8081", dataDir, takes });
 * ```
 * @module
 */

import { ROOT_DIR, taskArgs } from "../tasks.ts";
import { gateSpec, serviceSpecs } from "./suite.ts";
import type { ChildSpec } from "./supervised_child.ts";

/** The gates of the demo, by id. */
export const CLUSTER_GATES = ["a", "b"] as const;

/** Which optional flags the login and group services of this checkout take. */
export interface ServiceFlagSupport {
  /** `login --db postgres://…` (an accounts store in PostgreSQL). */
  loginDb: boolean;
  /** `login --cluster` / `--cluster-creds` (the session registry in NATS). */
  loginCluster: boolean;
  /** `group --cluster` / `--cluster-creds`. */
  groupCluster: boolean;
}

/** The `--help` text of a task, or "" when it cannot be run. */
async function helpOf(task: string): Promise<string> {
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [...taskArgs(task), "--help"],
      cwd: ROOT_DIR,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout) : "";
  } catch {
    return "";
  }
}

/** Whether a help text lists `flag` as a flag of its own (`  --flag ` at a line's start). */
export function helpLists(help: string, flag: string): boolean {
  return new RegExp(`^\\s*${flag.replaceAll("-", "\\-")}[\\s=]`, "m").test(help);
}

/** Asks the login and group services' `--help` which optional flags they take. */
export async function serviceFlags(): Promise<ServiceFlagSupport> {
  const [login, group] = await Promise.all([helpOf("login"), helpOf("group")]);
  return {
    loginDb: helpLists(login, "--db"),
    loginCluster: helpLists(login, "--cluster") && helpLists(login, "--cluster-creds"),
    groupCluster: helpLists(group, "--cluster") && helpLists(group, "--cluster-creds"),
  };
}

/** Gate `id`'s spec: the i-th gate takes `port + 2i` and `tcpPort + 2i`. */
export function clusterGateSpec(options: {
  id: string;
  index: number;
  dataDir: string;
  host: string;
  port: number;
  tcpPort: number;
  nats: string;
  creds?: string;
  extra?: string[];
}): ChildSpec {
  const spec = gateSpec(
    {
      dataDir: options.dataDir,
      host: options.host,
      port: options.port + 2 * options.index,
      tcpPort: options.tcpPort + 2 * options.index,
      licensePort: 0,
    },
    [
      "--cluster",
      options.nats,
      "--gate-id",
      options.id,
      ...options.creds ? ["--cluster-creds", options.creds] : [],
      // Ready once login and group are linked (to it, or to a gate it hears).
      "--require-services",
      "login,group",
      ...options.extra ?? [],
    ],
  );
  spec.name = `gate-${options.id}`;
  return spec;
}

/**
 * The login and group instances of gate `gate` (named `login-a`, `group-a`…), linked to it at
 * `gateUrl`: login with `--db` (and `loginEnv`) when `db` is given and login takes it, each with the NATS flags
 * when it takes them.
 */
export function gateServiceSpecs(options: {
  gate: string;
  gateUrl: string;
  dataDir: string;
  takes: ServiceFlagSupport;
  db?: string;
  /** More environment for the login instances (`PGPASSWORD` for `db`). */
  loginEnv?: Record<string, string>;
  nats?: { url: string; creds?: string };
  extra?: string[];
}): ChildSpec[] {
  const { takes, nats } = options;
  const natsFlags = nats
    ? ["--cluster", nats.url, ...nats.creds ? ["--cluster-creds", nats.creds] : []]
    : [];
  const flags: Record<string, string[]> = {
    login: [
      "--name",
      `login-${options.gate}`,
      ...options.db !== undefined && takes.loginDb ? ["--db", options.db] : [],
      ...takes.loginCluster ? natsFlags : [],
      ...options.extra ?? [],
    ],
    group: [
      "--name",
      `group-${options.gate}`,
      ...takes.groupCluster ? natsFlags : [],
      ...options.extra ?? [],
    ],
  };
  return serviceSpecs({ dataDir: options.dataDir, gateUrl: options.gateUrl, extra: flags })
    .map((spec) => ({
      ...spec,
      name: `${spec.name}-${options.gate}`,
      ...spec.name === "login" && options.loginEnv ? { env: options.loginEnv } : {},
    }));
}
