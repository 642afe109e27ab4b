/**
 * The scenarios `deno task bench` runs, in order. A new row of issue 7's table (accounts store,
 * durable sign-ups, license seats, once their services land) is one module exporting a
 * {@linkcode Scenario}, added to this list.
 *
 * @module
 */

import type { Scenario } from "../lib/types.ts";
import { broadcast } from "./broadcast.ts";
import { idle } from "./idle.ts";
import { routed } from "./routed.ts";

/** Every scenario, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [routed, idle, broadcast];
