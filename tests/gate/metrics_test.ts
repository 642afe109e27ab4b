import assert from "node:assert/strict";
import { State } from "../../shared/mod.ts";
import { GateMetrics, OTHER } from "../../server/gate/metrics.ts";

Deno.test("gate metrics: cmd and state labels stay bounded; counters keep their names", () => {
  const metrics = new GateMetrics();
  metrics.knownCommands((cmd) => cmd === "cs_msg_login");
  metrics.observeRequest("cs_msg_login", State.OK, 0.002);
  for (let i = 0; i < 100; i++) metrics.observeRequest(`cs_made_up_${i}`, State.UNDEFINED_CMD, 0);
  // A state no protocol names (a service may answer anything) is `other` too.
  for (let i = 0; i < 100; i++) metrics.observeRequest("cs_msg_login", 100_000 + i, 0.001);
  assert.equal(metrics.requestCount({ cmd: "cs_msg_login", state: "OK" }), 1);
  assert.equal(metrics.requestCount({ cmd: OTHER, state: "UNDEFINED_CMD" }), 100);
  assert.equal(metrics.requestCount({ cmd: "cs_msg_login", state: OTHER }), 100);
  const text = metrics.render();
  const series = text.split("\n").filter((l) =>
    l.startsWith("gatehouse_gate_request_seconds_count")
  );
  assert.equal(series.length, 3, series.join("\n"));
  assert.doesNotMatch(text, /cs_made_up/);

  metrics.inc("responses_total", 'state="OK"');
  metrics.inc("responses_total", 'state="OK"', 2);
  metrics.inc("requests_total");
  assert.equal(metrics.get("responses_total", 'state="OK"'), 3);
  assert.match(text + metrics.render(), /^gatehouse_responses_total\{state="OK"\} 3$/m);
  assert.match(metrics.render(), /^gatehouse_requests_total 1$/m);
  assert.match(metrics.render(), /^gatehouse_pushes_total 0$/m);
});
