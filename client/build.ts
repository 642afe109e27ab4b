/**
 * `deno task build`: bundles the client library with esbuild.
 *
 * - `web/dist/gatehouse.js`: an ES module for browsers, with no Node or Deno imports (the
 *   framed-TCP transport is replaced by a stub that says browsers cannot use it, and the `ws`
 *   fallback by one that finds nothing).
 * - `client/dist/gatehouse.node.mjs`: an ES module for Node 20+ that needs no flags (framed TCP
 *   through `node:net`; WebSocket where the runtime has one, else the `ws` package).
 * - `web/dist/app.js`: the web page's script (`web/app.ts`). It imports the client from
 *   `./gatehouse.js`, the browser bundle above, instead of carrying a second copy.
 * - `client/dist/npm/`: the npm package `@gatehouse/client` (see {@linkcode buildNpmPackage}).
 *
 * All with source maps.
 *
 * @module
 */

import * as esbuild from "esbuild";
import denoConfig from "../deno.json" with { type: "json" };

const ROOT = new URL("../", import.meta.url).pathname;

/** Where `deno task build` writes the npm package. */
export const NPM_PACKAGE_DIR = `${ROOT}client/dist/npm`;

/** The npm package's name. */
export const NPM_PACKAGE_NAME = "@gatehouse/client";

/** The `ws` version range the npm package depends on (Node 20 has no global WebSocket). */
const WS_RANGE = "^8.18.0";

/** What one bundle is. */
export interface BundleTarget {
  name: string;
  entry: string;
  outfile: string;
  platform: "browser" | "node";
  /** Minify (the npm package's bundles). */
  minify?: boolean;
  /** Import the client from the browser bundle `./gatehouse.js` instead of bundling it. */
  clientFromBrowserBundle?: boolean;
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
    clientFromBrowserBundle: true,
  },
];

/** Replaces the framed-TCP transport and the `ws` fallback in browser bundles. */
const browserStubs: esbuild.Plugin = {
  name: "browser-stubs",
  setup(build) {
    build.onResolve({ filter: /(tcp_transport|node_websocket)\.ts$/ }, (args) => ({
      path: args.path,
      namespace: "browser-stub",
    }));
    build.onLoad({ filter: /tcp_transport\.ts$/, namespace: "browser-stub" }, () => ({
      contents: `export const openTcpTransport = () =>
        Promise.reject(new Error("Framed TCP is not available in a browser: use a ws:// or wss:// URL"));`,
      loader: "js",
    }));
    build.onLoad({ filter: /node_websocket\.ts$/, namespace: "browser-stub" }, () => ({
      contents: `export const loadNodeWebSocket = async () => undefined;`,
      loader: "js",
    }));
  },
};

/**
 * The web page takes the client and the protocol module from the browser bundle: both
 * `client/browser.ts` and `shared/mod.ts` (which the browser bundle re-exports) become imports
 * of `./gatehouse.js`, served beside `app.js`.
 */
const clientFromBrowserBundle: esbuild.Plugin = {
  name: "client-from-browser-bundle",
  setup(build) {
    build.onResolve({ filter: /(client\/browser|shared\/mod)\.ts$/ }, () => ({
      path: "./gatehouse.js",
      external: true,
    }));
  },
};

/** Builds bundles (every one of {@linkcode BUNDLES} by default); returns the files written. */
export async function buildBundles(targets: BundleTarget[] = BUNDLES): Promise<string[]> {
  const written: string[] = [];
  try {
    for (const target of targets) {
      const plugins = target.platform === "browser" ? [browserStubs] : [];
      if (target.clientFromBrowserBundle) plugins.unshift(clientFromBrowserBundle);
      await esbuild.build({
        entryPoints: [target.entry],
        outfile: target.outfile,
        bundle: true,
        format: "esm",
        platform: target.platform,
        target: target.platform === "node" ? "node20" : "es2022",
        minify: target.minify ?? false,
        sourcemap: true,
        logLevel: "warning",
        plugins,
      });
      written.push(target.outfile);
    }
  } finally {
    await esbuild.stop();
  }
  return written;
}

/** The `package.json` of the npm package. */
export function npmPackageJson(): Record<string, unknown> {
  const browser = {
    types: "./types/client/browser.d.ts",
    default: "./dist/gatehouse.browser.min.js",
  };
  const node = { types: "./types/client/mod.d.ts", default: "./dist/gatehouse.node.min.mjs" };
  return {
    name: NPM_PACKAGE_NAME,
    version: denoConfig.version,
    license: denoConfig.license,
    description:
      "Client of the Gatehouse realtime gate: GateClient, ServiceClient and LicenseClient over WebSocket and framed TCP",
    type: "module",
    exports: {
      ".": { browser, node, types: node.types, default: browser.default },
      "./package.json": "./package.json",
    },
    main: node.default,
    module: node.default,
    browser: { [node.default]: browser.default },
    types: node.types,
    files: ["dist/", "types/", "README.md"],
    sideEffects: false,
    engines: { node: ">=20" },
    dependencies: { ws: WS_RANGE },
  };
}

const NPM_README = `# @gatehouse/client

The client of the Gatehouse realtime gate, for browsers and Node 20+.

\`\`\`ts
import { GateClient, State } from "@gatehouse/client";

const client = new GateClient({ url: "ws://127.0.0.1:8080/ws" }); // or tcp://127.0.0.1:8081
await client.connect();
const response = await client.request("cs_msg_heart");
console.log(response.state === State.OK);
client.close();
\`\`\`

Browsers get \`GateClient\` and \`ServiceClient\` over WebSocket; Node also gets framed TCP
(\`tcp://\`, \`tls://\`) and \`LicenseClient\`. On Node 20, which has no global WebSocket, \`ws://\`
uses the \`ws\` package (a dependency); any WebSocket class can be given as the \`WebSocket\` option.
`;

/** A relative import of a `.ts` file, in `from "…"` or `import("…")`. */
const TS_SPECIFIER = /((?:from\s+|import\()["'](?:\.{1,2}\/)[^"']*?)\.ts(["'])/g;

/**
 * Declarations (`.d.ts`) of the client and the protocol module, by the TypeScript compiler, into
 * `outDir` (as `client/*.d.ts` and `shared/*.d.ts`). Throws when the compiler reports an error.
 */
export async function buildDeclarations(outDir: string): Promise<string[]> {
  const { default: ts } = await import("typescript");
  const written: string[] = [];
  const program = ts.createProgram([`${ROOT}client/mod.ts`, `${ROOT}client/browser.ts`], {
    declaration: true,
    emitDeclarationOnly: true,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    rootDir: ROOT,
    outDir,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    types: [],
    strict: true,
    skipLibCheck: true,
  });
  const result = program.emit(undefined, (path, text) => {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    // The sources import "./x.ts" (Deno's way); a declaration names the file Node loads.
    Deno.writeTextFileSync(path, text.replace(TS_SPECIFIER, "$1.js$2"));
    written.push(path);
  });
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0 || written.length === 0) {
    throw new Error(
      `The declarations could not be written: ${
        ts.formatDiagnostics(errors, {
          getCanonicalFileName: (f) => f,
          getCurrentDirectory: () => ROOT,
          getNewLine: () => "\n",
        })
      }`,
    );
  }
  return written;
}

/**
 * Writes the npm package `@gatehouse/client` into `dir` (client/dist/npm by default):
 * `package.json` (exports for browser, Node and types; `ws` as a dependency), minified bundles
 * with source maps in `dist/`, declarations in `types/`, and a README. `npm pack` of that folder
 * is what gets published.
 */
export async function buildNpmPackage(dir: string = NPM_PACKAGE_DIR): Promise<string[]> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/dist`, { recursive: true });
  const written = await buildBundles([
    {
      name: "npm browser",
      entry: `${ROOT}client/browser.ts`,
      outfile: `${dir}/dist/gatehouse.browser.min.js`,
      platform: "browser",
      minify: true,
    },
    {
      name: "npm node",
      entry: `${ROOT}client/mod.ts`,
      outfile: `${dir}/dist/gatehouse.node.min.mjs`,
      platform: "node",
      minify: true,
    },
  ]);
  written.push(...await buildDeclarations(`${dir}/types`));
  await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify(npmPackageJson(), null, 2) + "\n");
  await Deno.writeTextFile(`${dir}/README.md`, NPM_README);
  written.push(`${dir}/package.json`, `${dir}/README.md`);
  return written;
}

if (import.meta.main) {
  const files = await buildBundles();
  for (const file of files) console.log(`built ${file.replace(ROOT, "")}`);
  await buildNpmPackage();
  console.log(
    `built ${NPM_PACKAGE_DIR.replace(ROOT, "")}/ (${NPM_PACKAGE_NAME}: npm pack it there)`,
  );
}
