/**
 * Static files for the gate's HTTP port (the web page and the client bundle), refusing any path
 * that would leave the web folder: `..` in any encoding, backslashes, NUL, and symlinks out.
 *
 * @module
 */

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
};

/**
 * The file path a URL path names inside `root`, or `undefined` when it may not be served.
 *
 * @example
 * ```ts
 * staticPath("/web", "/app.js"); // "/web/app.js"
 * staticPath("/web", "/%2e%2e/etc/passwd"); // undefined
 * ```
 */
export function staticPath(root: string, urlPath: string): string | undefined {
  let path = urlPath;
  // Decode repeatedly so that doubled encodings (%252e) cannot hide a "..".
  for (let i = 0; i < 3; i++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return undefined;
    }
    if (decoded === path) break;
    path = decoded;
  }
  if (path.includes("\0") || path.includes("\\") || /%[0-9a-f]{2}/i.test(path)) return undefined;
  const parts = path.split("/").filter((part) => part !== "");
  if (parts.some((part) => part === ".." || part === "." || part.startsWith("."))) return undefined;
  if (parts.length === 0) parts.push("index.html");
  return `${root.replace(/\/$/, "")}/${parts.join("/")}`;
}

/** Serves a file from `root`, or answers 404. */
export async function serveStatic(root: string, urlPath: string): Promise<Response> {
  const path = staticPath(root, urlPath);
  const notFound = () => new Response("Not found\n", { status: 404 });
  if (!path) return notFound();
  try {
    const [real, realRoot] = await Promise.all([Deno.realPath(path), Deno.realPath(root)]);
    if (!real.startsWith(realRoot + "/")) return notFound();
    const info = await Deno.stat(real);
    if (!info.isFile) return notFound();
    const file = await Deno.open(real, { read: true });
    const ext = real.slice(real.lastIndexOf(".") + 1).toLowerCase();
    return new Response(file.readable, {
      headers: {
        "content-type": TYPES[ext] ?? "application/octet-stream",
        "content-length": String(info.size),
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
      },
    });
  } catch {
    return notFound();
  }
}
