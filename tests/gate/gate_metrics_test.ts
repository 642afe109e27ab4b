import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { VERSION } from "../../server/version.ts";
import { connectClient, INTEGRATION, startEcho, startGate } from "../helpers/suite.ts";

/** The value of one series line of `text`, or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test({
  name: "gate /metrics: request histogram by command and state, bounded; process and build info",
  ...INTEGRATION,
  async fn() {
    const gate = await startGate();
    const echo = await startEcho(gate);
    try {
      const client = await connectClient(gate.tcpUrl);
      try {
        for (let i = 0; i < 3; i++) {
          assert.equal((await client.request("echo", { i })).state, State.OK);
        }
        assert.equal((await client.request("cs_msg_heart")).state, State.OK);
        // Commands nobody registered: each would be a series of its own if it were a label.
        for (const cmd of ["cs_nobody_a", "cs_nobody_b"]) {
          assert.equal((await client.request(cmd)).state, State.UNDEFINED_CMD);
        }
      } finally {
        client.close();
      }
      const response = await fetch(`${gate.httpUrl}/metrics`);
      assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      const text = await response.text();

      assert.match(text, /^# TYPE gatehouse_gate_request_seconds histogram$/m);
      const echoOk = 'cmd="echo",state="OK"';
      assert.equal(value(text, `gatehouse_gate_request_seconds_count{${echoOk}}`), 3);
      assert.equal(value(text, `gatehouse_gate_request_seconds_bucket{${echoOk},le="+Inf"}`), 3);
      assert.ok(value(text, `gatehouse_gate_request_seconds_bucket{${echoOk},le="10"}`) === 3);
      assert.ok(value(text, `gatehouse_gate_request_seconds_sum{${echoOk}}`)! > 0);
      assert.equal(
        value(text, 'gatehouse_gate_request_seconds_count{cmd="cs_msg_heart",state="OK"}'),
        1,
      );
      assert.equal(
        value(text, 'gatehouse_gate_request_seconds_count{cmd="other",state="UNDEFINED_CMD"}'),
        2,
      );
      assert.doesNotMatch(text, /cs_nobody/);

      // The counters kept their names.
      assert.ok(value(text, "gatehouse_requests_total")! >= 6);
      assert.ok(value(text, 'gatehouse_responses_total{state="OK"}')! >= 4);
      assert.match(text, /^gatehouse_service_links 1$/m);

      // Process series and the build.
      assert.ok(value(text, "process_resident_memory_bytes")! > 1_000_000);
      assert.match(text, /^# TYPE gatehouse_event_loop_delay_seconds histogram$/m);
      assert.match(text, /^gatehouse_event_loop_delay_seconds_bucket\{le="\+Inf"\} \d+$/m);
      assert.match(text, /^process_start_time_seconds \d+(\.\d+)?$/m);
      assert.match(
        text,
        new RegExp(`^gatehouse_build_info\\{version="${VERSION}",deno="[^"]+"\\} 1$`, "m"),
      );
      // Open fds only where the gate may read /proc/self/fd (Deno gives it to --allow-all only):
      // absent rather than wrong.
      const fds = value(text, "process_open_fds");
      assert.ok(fds === undefined || fds > 0, `process_open_fds ${fds}`);
    } finally {
      await echo.stop();
      await gate.stop();
    }
  },
});
