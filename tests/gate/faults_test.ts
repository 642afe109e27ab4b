import assert from "node:assert/strict";
import {
  type GateClient,
  RequestTimeoutError,
  ResponseError,
  ServiceClient,
  State,
} from "../../client/mod.ts";
import { openRaw } from "../helpers/raw.ts";
import {
  connectClient,
  delay,
  freePorts,
  INTEGRATION,
  startEcho,
  startGate,
  TRANSPORTS,
  waitFor,
} from "../helpers/suite.ts";

Deno.test({
  name: "SERVER_OFF when the service process is killed with a request in flight",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate();
    try {
      for (const transport of TRANSPORTS) {
        await t.step(transport, async () => {
          const echo = await startEcho(gate);
          const client = await connectClient(gate.url(transport));
          try {
            const started = Date.now();
            const inFlight = client.request("echo_sleep", { ms: 5000 });
            await delay(500); // the request reaches the service
            echo.kill("SIGKILL");
            const response = await inFlight;
            assert.equal(response.state, State.SERVER_OFF);
            assert.match(response.msg!, /went away/);
            assert.ok(Date.now() - started < 4000, "answered at once, not at the timeout");
            // The command was registered once, so a later request is SERVER_OFF, not UNDEFINED_CMD.
            const later = await client.request("echo", {});
            assert.equal(later.state, State.SERVER_OFF);
          } finally {
            client.close();
            await echo.status;
          }
        });
      }
    } finally {
      await gate.stop();
    }
  },
});

Deno.test({
  name: "TIMEOUT and SERVER_BUSY from the gate",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate({ flags: ["--request-timeout-ms", "300", "--max-inflight", "1"] });
    const echo = await startEcho(gate);
    try {
      for (const transport of TRANSPORTS) {
        const client = await connectClient(gate.url(transport));
        try {
          await t.step(`${transport}: TIMEOUT`, async () => {
            const response = await client.request("echo_sleep", { ms: 1000 });
            assert.equal(response.state, State.TIMEOUT);
            assert.match(response.msg!, /within 300 ms/);
            await delay(1500); // let the late answer (at 1000 ms) arrive and be dropped
            const next = await client.request("echo", { after: "timeout" });
            assert.equal(next.state, State.OK, "a late answer does not confuse the next request");
          });
          await t.step(`${transport}: SERVER_BUSY at the in-flight limit`, async () => {
            const slow = client.request("echo_sleep", { ms: 200 });
            const busy = await client.request("echo", {});
            assert.equal(busy.state, State.SERVER_BUSY);
            assert.equal((await slow).state, State.OK);
          });
          await t.step(
            `${transport}: the client's own timeout rejects with a typed error`,
            async () => {
              await assert.rejects(
                client.request("echo_sleep", { ms: 250 }, { timeoutMs: 50 }),
                RequestTimeoutError,
              );
              await delay(300);
            },
          );
        } finally {
          client.close();
        }
      }
    } finally {
      await echo.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name: "RATE_LIMITED for a client that sends too fast, while others are served",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate({ flags: ["--rate", "5", "--burst", "5"] });
    const echo = await startEcho(gate);
    try {
      for (const transport of TRANSPORTS) {
        await t.step(transport, async () => {
          const flooder = await connectClient(gate.url(transport));
          const other = await connectClient(gate.url(transport));
          try {
            const responses = await Promise.all(
              Array.from({ length: 30 }, (_, i) => flooder.request("echo", { i })),
            );
            const limited = responses.filter((r) => r.state === State.RATE_LIMITED);
            const ok = responses.filter((r) => r.state === State.OK);
            assert.ok(limited.length >= 20, `${limited.length} rate limited`);
            assert.ok(ok.length >= 5, `${ok.length} served`);
            assert.equal(limited.length + ok.length, 30, "every request answered once");
            assert.equal((await other.request("echo", {})).state, State.OK);
          } finally {
            flooder.close();
            other.close();
          }
        });
      }
    } finally {
      await echo.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name: "a wrong service key is refused",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    try {
      for (const url of [gate.wsUrl, gate.tcpUrl]) {
        const service = new ServiceClient({ url, sskey: "not-the-key", name: "intruder" });
        service.handle("echo", () => ({ stolen: true }));
        const error = await service.start().then(() => undefined, (e) => e);
        assert.ok(error instanceof ResponseError, String(error));
        assert.equal(error.state, State.FORBIDDEN);
        service.stop();
      }
      // Nothing was registered: the command is still unknown.
      const client = await connectClient(gate.wsUrl);
      assert.equal((await client.request("echo")).state, State.UNDEFINED_CMD);
      client.close();
      const metrics = await (await fetch(`${gate.httpUrl}/metrics`)).text();
      assert.match(metrics, /gatehouse_service_key_failures_total 2/);
    } finally {
      await gate.stop();
    }
  },
});

Deno.test({
  name: "the idle timeout closes a silent client, and heartbeats keep one open",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate({ flags: ["--heartbeat-ms", "100"] });
    try {
      for (const transport of TRANSPORTS) {
        const silent = await connectClient(gate.url(transport), { heartbeatMs: 60_000 });
        const lively = await connectClient(gate.url(transport), { heartbeatMs: 50 });
        const states: string[] = [];
        silent.onState((state) => states.push(state));
        await waitFor(() => states.includes("disconnected"), {
          what: "the idle close",
          timeoutMs: 3000,
        });
        assert.equal(lively.state, "connected");
        assert.equal((await lively.request("cs_msg_heart")).state, State.OK);
        silent.close();
        lively.close();
      }
    } finally {
      await gate.stop();
    }
  },
});

Deno.test({
  name:
    "an oversized message is refused with a clear error and the connection closed; others carry on",
  ...INTEGRATION,
  async fn(t) {
    const gate = await startGate({ flags: ["--max-message-bytes", "1024"] });
    const echo = await startEcho(gate);
    try {
      for (const transport of TRANSPORTS) {
        await t.step(transport, async () => {
          const bystander = await connectClient(gate.url(transport));
          const raw = await openRaw(gate.url(transport));
          raw.send(
            JSON.stringify({
              cmd: "echo",
              is_req: true,
              msgId: 1,
              data: { pad: "x".repeat(4000) },
            }),
          );
          const error = await raw.next();
          assert.equal(error.kind, "text");
          const body = JSON.parse((error as { text: string }).text);
          const message = body.data?.msg ?? body.msg;
          assert.match(message, /over the limit of 1024 bytes/);
          const closed = await raw.next();
          assert.equal(closed.kind, "close");
          raw.close();
          assert.equal((await bystander.request("echo", { still: "here" })).state, State.OK);
          bystander.close();
        });
      }
      await t.step(
        "tcp: a frame header claiming 4 GiB is refused before it is buffered",
        async () => {
          const raw = await openRaw(gate.tcpUrl);
          const header = new Uint8Array(32);
          header.set([0x09, 0x6f, 0x01, 0x01]);
          new DataView(header.buffer).setUint32(4, 0xffffffff);
          new DataView(header.buffer).setUint32(12, 100);
          raw.send(header);
          const error = await raw.next();
          assert.equal((error as { type?: number }).type, 255);
          assert.match((error as { text: string }).text, /over the limit/);
          assert.equal((await raw.next()).kind, "close");
          raw.close();
        },
      );
    } finally {
      await echo.stop();
      await gate.stop();
    }
  },
});

Deno.test({
  name:
    "gate stops with SERVER_OFF for pending requests; ServiceClient registers again after a restart",
  ...INTEGRATION,
  async fn() {
    const [port, tcpPort] = freePorts(2);
    let gate = await startGate({ port, tcpPort });
    const dataDir = gate.dataDir;
    const echo = await startEcho(gate, { flags: ["--heartbeat-ms", "200"] });
    let client: GateClient | undefined;
    try {
      client = await connectClient(gate.wsUrl, { reconnect: true, backoffMaxMs: 300 });
      assert.equal((await client.request("echo", {})).state, State.OK);
      const inFlight = client.request("echo_sleep", { ms: 3000 });
      await delay(500); // the request reaches the service
      assert.equal(await gate.stop(), 0);
      const lost = await inFlight;
      assert.equal(lost.state, State.SERVER_OFF, "the gate answers what is pending as it stops");
      assert.match(lost.msg!, /shutting down/);
      const from = echo.lines.length;
      gate = await startGate({ port, tcpPort, dataDir });
      await echo.waitForLine(/registered again/, { from, timeoutMs: 10_000 });
      await waitFor(async () => {
        try {
          return (await client!.request("echo", {}, { timeoutMs: 1000 })).state === State.OK;
        } catch {
          return false;
        }
      }, { what: "echo after the restart" });
    } finally {
      client?.close();
      await echo.stop();
      await gate.stop();
    }
  },
});
