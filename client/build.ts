/**
 * `deno task build`: bundles the client library with esbuild.
 *
 * - `web/dist/gatehouse.js`: an ES module for browsers, with no Node or Deno imports (the
 *   framed-TCP transport is replaced by a stub that says browsers cannot use it).
 * - `client/dist/gatehouse.node.mjs`: an ES module for Node 20+ that needs no flags (framed TCP
 *   through `node:net`; WebSocket where the runtime has one).
 * - `web/dist/app.js`: the web page's script (`web/app.ts`, with the client inside it), built
 *   like the browser bundle.
 *
 * All with source maps.
 *
 * @module
 */

import * as esbuild from "esbuild";

const ROOT = new URL("../", import.meta.url).pathname;

/** What one bundle is. */
export interface BundleTarget {
  name: string;
  entry: string;
  outfile: string;
  platform: "browser" | "node";
}

/** The bundles `deno task build` writes. */
export const BUNDLES: BundleTarget[] = [
  {
    name: "browser",
    entry: `${ROOT}client/browser.ts`,
    outfile: `${ROOT}web/dist/gatehouse.js`,
    platform: "browser",
  },
  {
    name: "node",
    entry: `${ROOT}client/mod.ts`,
    outfile: `${ROOT}client/dist/gatehouse.node.mjs`,
    platform: "node",
  },
  {
    name: "web app",
    entry: `${ROOT}web/app.ts`,
    outfile: `${ROOT}web/dist/app.js`,
    platform: "browser",
  },
];

/** Replaces the framed-TCP transport in browser bundles. */
const noTcpInBrowser: esbuild.Plugin = {
  name: "no-tcp-in-browser",
  setup(build) {
    build.onResolve({ filter: /tcp_transport\.ts$/ }, (args) => ({
      path: args.path,
      namespace: "browser-stub",
    }));
    build.onLoad({ filter: /.*/, namespace: "browser-stub" }, () => ({
      contents: `export const openTcpTransport = () =>
        Promise.reject(new Error("Framed TCP is not available in a browser: use a ws:// or wss:// URL"));`,
      loader: "js",
    }));
  },
};

/** Builds bundles (every one of {@linkcode BUNDLES} by default); returns the files written. */
export async function buildBundles(targets: BundleTarget[] = BUNDLES): Promise<string[]> {
  const written: string[] = [];
  for (const target of targets) {
    await esbuild.build({
      entryPoints: [target.entry],
      outfile: target.outfile,
      bundle: true,
      format: "esm",
      platform: target.platform,
      target: target.platform === "node" ? "node20" : "es2022",
      sourcemap: true,
      logLevel: "warning",
      plugins: target.platform === "browser" ? [noTcpInBrowser] : [],
    });
    written.push(target.outfile);
  }
  await esbuild.stop();
  return written;
}

if (import.meta.main) {
  const files = await buildBundles();
  for (const file of files) console.log(`built ${file.replace(ROOT, "")}`);
}
