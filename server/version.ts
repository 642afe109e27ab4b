/**
 * The suite's version: `deno.json`'s `version`, one number for every process and the client
 * package.
 *
 * @example
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(`gatehouse ${VERSION}`);
 * ```
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** The suite's version, e.g. `0.1.0`. */
export const VERSION: string = config.version;
