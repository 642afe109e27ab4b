/**
 * Running the client library on Node in tests: whether `node` is here, and the Node bundle built
 * into a folder of the test's own.
 *
 * @module
 */

import { buildBundles, BUNDLES } from "../../client/build.ts";
import { type RequiredTool, requireTool } from "./tool.ts";

/**
 * Whether Node 20 or later can be run here. (Deno runs `node` as itself when no node is on PATH,
 * so the version line is checked, not only that the command ran.)
 */
export function hasNode(): boolean {
  try {
    const { success, stdout } = new Deno.Command("node", { args: ["--version"], stderr: "null" })
      .outputSync();
    const major = /^v(\d+)\./.exec(new TextDecoder().decode(stdout))?.[1];
    return success && Number(major) >= 20;
  } catch {
    return false;
  }
}

/** node for the Node tests: their `ignore`, and the check that fails them in CI. */
export function nodeTool(): RequiredTool {
  return requireTool({ name: "Node 20+", found: hasNode(), install: "https://nodejs.org" });
}

/** Builds the Node bundle of `deno task build` into `dir`; returns its path. */
export async function buildNodeBundle(dir: string): Promise<string> {
  const outfile = `${dir}/gatehouse.node.mjs`;
  await buildBundles([{ ...BUNDLES.find((b) => b.platform === "node")!, outfile }]);
  return outfile;
}
