/**
 * The gate stamps the sender's address (`clientAddr`) on every request it forwards, against the
 * real gate and echo service: a forged one is overwritten, framed TCP carries the socket's peer,
 * `X-Forwarded-For` counts only from a proxy named by `--trust-proxy`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ServiceClient, State } from "../../client/mod.ts";
import { readServiceKey } from "../../server/service_key.ts";
import { rawExchange } from "../helpers/raw.ts";
import {
  connectClient,
  type GateProcess,
  INTEGRATION,
  startEcho,
  startGate,
} from "../helpers/suite.ts";

interface Echoed {
  clientId: number;
  clientAddr: string;
  userId: number;
  isServiceLink: boolean;
}

const FORGED = JSON.stringify({
  cmd: "echo",
  is_req: true,
  msgId: 5,
  data: {},
  clientAddr: "203.0.113.66",
  clientId: 1,
});

/** Sends a forged echo request over a WebSocket opened with `headers`; resolves with its data. */
function echoOverWebSocket(url: string, headers: Record<string, string>): Promise<Echoed> {
  // Deno's WebSocket takes request headers as a second-argument option.
  const socket = new WebSocket(url, { headers } as unknown as string[]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("No echo within 5 s")), 5000);
    socket.onopen = () => socket.send(FORGED);
    socket.onerror = () => reject(new Error(`The WebSocket to ${url} failed`));
    socket.onmessage = (event) => {
      clearTimeout(timer);
      socket.close();
      const response = JSON.parse(event.data as string);
      if (response.state !== State.OK) reject(new Error(`Echo failed: ${event.data}`));
      else resolve(response.data as Echoed);
    };
  });
}

async function withGate(
  flags: string[],
  test: (gate: GateProcess) => Promise<void>,
): Promise<void> {
  const gate = await startGate({ flags });
  const echo = await startEcho(gate);
  try {
    await test(gate);
  } finally {
    await echo.stop();
    await gate.stop();
  }
}

Deno.test({
  name: "client address: stamped by the gate, a forged one overwritten, over ws and tcp",
  ...INTEGRATION,
  async fn() {
    await withGate([], async (gate) => {
      for (const url of [gate.wsUrl, gate.tcpUrl]) {
        const [text] = await rawExchange({ url, send: [FORGED], expect: 1 });
        const echoed = JSON.parse(text).data as Echoed;
        assert.equal(echoed.clientAddr, "127.0.0.1", `${url}: ${text}`);
        assert.notEqual(echoed.clientId, 1);
      }
      // Framed TCP: the socket's peer address, whichever local address the client picked.
      for (const localAddress of ["127.0.0.2", "127.0.0.3"]) {
        const client = await connectClient(gate.tcpUrl, { localAddress });
        try {
          const response = await client.request<Echoed>("echo", {});
          assert.equal(response.data.clientAddr, localAddress);
        } finally {
          client.close();
        }
      }
      // Without --trust-proxy, X-Forwarded-For is ignored.
      const ignored = await echoOverWebSocket(gate.wsUrl, {
        "x-forwarded-for": "198.51.100.7",
      });
      assert.equal(ignored.clientAddr, "127.0.0.1");
      // A service link's requests are stamped too.
      const link = new ServiceClient({
        url: gate.wsUrl,
        sskey: await readServiceKey(gate.dataDir),
        name: "addr-probe",
        type: "probe",
      });
      try {
        await link.start();
        const response = await link.request<Echoed>("echo", {});
        assert.equal(response.data.clientAddr, "127.0.0.1");
        assert.equal(response.data.isServiceLink, true);
      } finally {
        link.stop();
      }
    });
  },
});

Deno.test({
  name: "client address: X-Forwarded-For only from a proxy named by --trust-proxy",
  ...INTEGRATION,
  async fn() {
    await withGate(["--trust-proxy", "127.0.0.1", "--trust-proxy", "10.0.0.5"], async (gate) => {
      const seen = (header: string) =>
        echoOverWebSocket(gate.wsUrl, { "x-forwarded-for": header }).then((e) => e.clientAddr);
      // The right-most hop that is not a trusted proxy: what the client wrote on the left is
      // not believed.
      assert.equal(await seen("198.51.100.7, 203.0.113.9"), "203.0.113.9");
      assert.equal(await seen("203.0.113.9, 10.0.0.5"), "203.0.113.9");
      assert.equal(await seen("2001:DB8::1"), "2001:db8::1");
      // A hop that is not an address: nothing left of it is believed, the proxy is the source.
      assert.equal(await seen("203.0.113.9, not-an-ip"), "127.0.0.1");
      // No header: the peer. Framed TCP never reads one.
      assert.equal((await echoOverWebSocket(gate.wsUrl, {})).clientAddr, "127.0.0.1");
      const client = await connectClient(gate.tcpUrl, { localAddress: "127.0.0.4" });
      try {
        assert.equal((await client.request<Echoed>("echo", {})).data.clientAddr, "127.0.0.4");
      } finally {
        client.close();
      }
    });
  },
});
