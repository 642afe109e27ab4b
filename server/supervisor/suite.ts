/**
 * The suite the supervisor runs: which processes, with which flags (DESIGN.md, "Processes,
 * flags and defaults").
 *
 * @module
 */

import { ROOT_DIR, taskArgs } from "../tasks.ts";
import type { ChildSpec } from "./supervised_child.ts";

/** The supervisor's flags, handed on to the children. */
export interface SuiteOptions {
  dataDir: string;
  host: string;
  port: number;
  tcpPort: number;
  licensePort: number;
}

/** The gate's child spec. */
export function gateSpec(options: SuiteOptions, extra: string[] = []): ChildSpec {
  return {
    name: "gate",
    command: Deno.execPath(),
    args: [
      ...taskArgs("gate:only"),
      "--host",
      options.host,
      "--port",
      String(options.port),
      "--tcp-port",
      String(options.tcpPort),
      "--data-dir",
      options.dataDir,
      ...extra,
    ],
    cwd: ROOT_DIR,
    listens: [
      { host: options.host, port: options.port },
      { host: options.host, port: options.tcpPort },
    ],
  };
}

/** The services that connect to the gate at `gateUrl` (those whose task exists). */
export function serviceSpecs(options: { dataDir: string; gateUrl: string }): ChildSpec[] {
  const specs: ChildSpec[] = [];
  for (const name of ["login", "group"]) {
    let args: string[];
    try {
      args = taskArgs(name);
      Deno.statSync(`${ROOT_DIR}/${args[args.length - 1]}`);
    } catch {
      continue; // not part of this checkout
    }
    specs.push({
      name,
      command: Deno.execPath(),
      args: [...args, "--gate", options.gateUrl, "--data-dir", options.dataDir],
      cwd: ROOT_DIR,
    });
  }
  return specs;
}

/** The license server's child spec. */
export function licenseSpec(options: SuiteOptions): ChildSpec {
  return {
    name: "license",
    command: Deno.execPath(),
    args: [
      ...taskArgs("license"),
      "--host",
      options.host,
      "--port",
      String(options.licensePort),
      "--data-dir",
      options.dataDir,
    ],
    cwd: ROOT_DIR,
    listens: [{ host: options.host, port: options.licensePort }],
  };
}
