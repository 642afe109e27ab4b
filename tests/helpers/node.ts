/**
 * Running the client library on Node in tests: whether `node` is here, and the Node bundle built
 * into a folder of the test's own.
 *
 * @module
 */

import { buildBundles, BUNDLES } from "../../client/build.ts";

/** Whether `node` can be run here. */
export function hasNode(): boolean {
  try {
    return new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Builds the Node bundle of `deno task build` into `dir`; returns its path. */
export async function buildNodeBundle(dir: string): Promise<string> {
  const outfile = `${dir}/gatehouse.node.mjs`;
  await buildBundles([{ ...BUNDLES.find((b) => b.platform === "node")!, outfile }]);
  return outfile;
}
