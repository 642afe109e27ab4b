/**
 * The "limit" baseline: a raw single-hop Deno WebSocket echo server (Deno.serve +
 * upgradeWebSocket), with nothing between the socket and the echo. `/count` reports how many
 * sockets are open, so that the idle scenario can check it holds them all.
 *
 * Usage: `deno run --allow-net bench/baselines/raw_ws_echo.ts [--host 127.0.0.1] [--port 0]`
 * Prints `raw-ws-echo listening port=<port>` when ready.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
  },
  strict: true,
});

let open = 0;
const server = Deno.serve({
  hostname: values.host,
  port: Number(values.port),
  onListen: (addr) => console.log(`raw-ws-echo listening port=${addr.port}`),
}, (request) => {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new URL(request.url).pathname === "/count"
      ? Response.json({ connections: open })
      : new Response("WebSocket echo\n");
  }
  // The same socket options as the gate's upgrade.
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: 0,
  });
  socket.onopen = () => open++;
  socket.onmessage = (event) => socket.send(event.data);
  socket.onclose = () => open--;
  socket.onerror = () => {};
  return response;
});

// Open sockets would hold a graceful shutdown; a benchmark peer just ends.
const stop = () => Deno.exit(0);
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
void server.finished;
