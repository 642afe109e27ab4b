import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { openRaw } from "../helpers/raw.ts";
import { connectClient, INTEGRATION, startGate } from "../helpers/suite.ts";
import { staticPath } from "../../server/gate/static_files.ts";

Deno.test({
  name: "gate HTTP: health, metrics, the web page, and no way out of web/",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    try {
      await t.step("/healthz", async () => {
        const response = await fetch(`${gate.httpUrl}/healthz`);
        assert.equal(response.status, 200);
        assert.equal((await response.json()).status, "ok");
      });
      await t.step("/metrics in Prometheus text", async () => {
        const client = await connectClient(gate.wsUrl);
        await client.request("cs_msg_heart");
        const text = await (await fetch(`${gate.httpUrl}/metrics`)).text();
        client.close();
        assert.match(text, /# TYPE gatehouse_requests_total counter/);
        assert.match(text, /gatehouse_requests_total [1-9]/);
        assert.match(text, /gatehouse_responses_total\{state="OK"\} [1-9]/);
        assert.match(text, /# TYPE gatehouse_connections gauge/);
      });
      await t.step("the web page", async () => {
        const response = await fetch(`${gate.httpUrl}/`);
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type")!, /text\/html/);
        assert.match(await response.text(), /Gatehouse/);
      });
      await t.step("path traversal is refused in every form", async () => {
        for (
          const path of [
            "/../deno.json",
            "/%2e%2e/deno.json",
            "/%2E%2E/%2E%2E/etc/passwd",
            "/%252e%252e/deno.json",
            "/..%2fdeno.json",
            "/..%5cdeno.json",
            "/.%2e/deno.json",
            "/%00index.html",
            "/.git/config",
          ]
        ) {
          // fetch() normalises "..", so send the raw request line.
          const status = await rawGet(gate.httpUrl, path);
          assert.ok(status === 404 || status === 400, `${path} answered ${status}`);
        }
      });
      await t.step("a WebSocket path without an upgrade", async () => {
        assert.equal((await fetch(`${gate.wsUrl.replace("ws:", "http:")}`)).status, 426);
      });
    } finally {
      await gate.stop();
    }
  },
});

Deno.test("staticPath keeps every path inside the root", () => {
  assert.equal(staticPath("/w", "/"), "/w/index.html");
  assert.equal(staticPath("/w", "/a/b.js"), "/w/a/b.js");
  for (
    const bad of ["/../x", "/%2e%2e/x", "/%252e%252e/x", "/a/../../x", "/a\\..\\x", "/%zz", "/.env"]
  ) {
    assert.equal(staticPath("/w", bad), undefined, bad);
  }
});

Deno.test({
  name: "gate refuses WebSocket upgrades from origins not allowed, and accepts no Origin",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate({ flags: ["--allow-origin", "https://good.example"] });
    try {
      const upgrade = (origin?: string) =>
        fetch(gate.wsUrl.replace("ws:", "http:"), {
          headers: {
            upgrade: "websocket",
            connection: "Upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
            ...(origin ? { origin } : {}),
          },
        });
      const evil = await upgrade("https://evil.example");
      assert.equal(evil.status, 403);
      await evil.body?.cancel();
      const good = await openRaw(gate.wsUrl, { origin: "https://good.example" });
      good.close();
      const none = await connectClient(gate.wsUrl);
      assert.equal((await none.request("cs_msg_heart")).state, State.OK);
      none.close();
    } finally {
      await gate.stop();
    }
  },
});

Deno.test({
  name: "gate refuses connections past its limit with a clear reason",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate({ flags: ["--max-connections", "2"] });
    try {
      const a = await connectClient(gate.wsUrl);
      const b = await connectClient(gate.tcpUrl);
      const ws = await openRaw(gate.wsUrl);
      const wsClose = await ws.next();
      assert.equal(wsClose.kind, "close");
      assert.match((wsClose as { reason: string }).reason, /limit of 2 connections/);
      const tcp = await openRaw(gate.tcpUrl);
      const tcpError = await tcp.next();
      assert.match((tcpError as { text: string }).text, /limit of 2 connections/);
      assert.equal((await tcp.next()).kind, "close");
      assert.equal((await a.request("cs_msg_heart")).state, State.OK);
      assert.equal((await b.request("cs_msg_heart")).state, State.OK);
      a.close();
      b.close();
    } finally {
      await gate.stop();
    }
  },
});

async function rawGet(base: string, path: string): Promise<number> {
  const url = new URL(base);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  conn.close();
  const line = new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
  return Number(line.split(" ")[1]);
}
