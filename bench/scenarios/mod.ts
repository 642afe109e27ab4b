/**
 * The scenarios `deno task bench` runs, in order. A new row of issue 7's table is one module
 * exporting a {@linkcode Scenario}, added to this list.
 *
 * @module
 */

import type { Scenario } from "../lib/types.ts";
import { accounts } from "./accounts.ts";
import { broadcast } from "./broadcast.ts";
import { cluster } from "./cluster.ts";
import { idle } from "./idle.ts";
import { license } from "./license.ts";
import { loginInstances } from "./login_instances.ts";
import { routed } from "./routed.ts";
import { signups } from "./signups.ts";

/** Every scenario, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [
  routed,
  idle,
  broadcast,
  accounts,
  signups,
  loginInstances,
  license,
  cluster,
];
