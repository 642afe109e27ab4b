/**
 * The TypeScript side of the C++ integration tests: `client URL CMD DATA [wait-push]` sends one
 * request with the TypeScript GateClient and prints `RESULT {state, msg, data, push}`;
 * `service URL` serves `ts_echo` with the TypeScript ServiceClient until SIGTERM.
 *
 * @module
 */

import { GateClient, ServiceClient } from "../../../../client/mod.ts";

const [mode, url, ...rest] = Deno.args;
if (mode === "client") {
  const client = new GateClient({ url, reconnect: false });
  await client.connect();
  const pushed = new Promise<unknown>((resolve) =>
    client.on("sc_msg_cpp", (data) => resolve(data))
  );
  const response = await client.request(rest[0], JSON.parse(rest[1] ?? "{}"));
  let push: unknown = null;
  if (rest[2] === "wait-push") {
    push = await Promise.race([pushed, new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  console.log(
    "RESULT " +
      JSON.stringify({ state: response.state, msg: response.msg, data: response.data, push }),
  );
  client.close();
} else if (mode === "service") {
  const service = new ServiceClient({
    url,
    sskey: Deno.env.get("GATEHOUSE_SSKEY") ?? "",
    name: "ts-peer",
  });
  service.handle("ts_echo", (request) => ({
    data: request.data,
    clientId: request.clientId,
    userId: request.userId,
    from: "typescript",
  }));
  await service.start();
  console.log("ts-peer registered");
  Deno.addSignalListener("SIGTERM", () => {
    service.stop();
    Deno.exit(0);
  });
} else {
  console.error("Usage: ts_peer.ts client URL CMD DATA [wait-push] | service URL");
  Deno.exit(2);
}
