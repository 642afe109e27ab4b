/**
 * The browser face of the client library: everything in `mod.ts` but framed TCP, which a
 * browser cannot open. `deno task build` bundles it to `web/dist/gatehouse.js`.
 *
 * @module
 */

export * from "./mod.ts";
