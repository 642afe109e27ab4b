/**
 * The Socket.IO baseline (Node, `socket.io` from npm): an acknowledged echo
 * (`socket.on("echo", (msg, ack) => ack(msg))`) and a room broadcast (`join` a room, then
 * `broadcast {room, data}` emits `bench_msg` with `data` to every socket in the room and acks).
 *
 * Usage: `node bench/baselines/socketio_server.mjs [--host 127.0.0.1] [--port 0]`
 * Prints `socketio listening port=<port>` when ready. WebSocket transport only, no
 * per-message compression (Socket.IO's default), the default in-memory adapter.
 */

import { createServer } from "node:http";
import process from "node:process";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
  },
  strict: true,
});

const http = createServer((request, response) => {
  if (request.url === "/count") {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ connections: io.engine.clientsCount }));
    return;
  }
  response.statusCode = 404;
  response.end();
});
const io = new Server(http, { transports: ["websocket"], serveClient: false });

io.on("connection", (socket) => {
  socket.on("echo", (msg, ack) => ack(msg));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
  socket.on("broadcast", (message, ack) => {
    io.to(message.room).emit("bench_msg", message.data);
    ack(true);
  });
});

http.listen(Number(values.port), values.host, () => {
  console.log(`socketio listening port=${http.address().port}`);
});

const stop = () => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
