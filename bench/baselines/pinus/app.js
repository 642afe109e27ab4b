/**
 * The Pinus baseline's application: one `connector` (frontend, the hybridconnector: Pinus's own
 * client protocol over WebSocket) and one `echo` backend whose handler answers each request with
 * its message, so that a request goes client → connector → (RPC) echo → connector → client, the
 * same two hops as ours. Started per server by bench/baselines/pinus_server.mjs, which writes the
 * config (ports) into a temporary base folder named by PINUS_BENCH_BASE.
 *
 * Connector settings: heartbeat 30 s (the client answers each one), no route dictionary, no
 * protobuf (JSON bodies, as Socket.IO and ours), client port on the server's host (127.0.0.1) only
 * (`distinctHost`), Pinus's defaults otherwise.
 */

// Pinus (its loader) needs the Reflect metadata API, which its own template loads first.
require("reflect-metadata");
const { pinus } = require("pinus");

const base = process.env.PINUS_BENCH_BASE;
if (!base) throw new Error("PINUS_BENCH_BASE must name the base folder (config/, app/)");

const app = pinus.createApp({ base });
app.set("name", "gatehouse-bench");
app.configure("production|development", "connector", () => {
  app.set("connectorConfig", {
    connector: pinus.connectors.hybridconnector,
    heartbeat: 30,
    useDict: false,
    useProtobuf: false,
    distinctHost: true,
  });
});
app.start();

// Reported with a plain write that cannot throw: a handler that threw (as console.error does once
// its stream has failed) would raise the next uncaught exception, and so on without end.
process.on("uncaughtException", (error) => {
  try {
    require("node:fs").writeSync(
      2,
      `pinus uncaught: ${error && error.stack ? error.stack : error}\n`,
    );
  } catch { /* stderr is gone: nothing left to tell */ }
});
