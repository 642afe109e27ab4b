import assert from "node:assert/strict";
import { MessageTypes } from "../../shared/mod.ts";
import { ConnectionIntake } from "../../server/gate/connection_intake.ts";
import { GateMetrics } from "../../server/gate/metrics.ts";
import { eventLog } from "../helpers/event_log.ts";

const PEER: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };

/** An intake with a real logger sink and metrics; `stopping` false unless given. */
function newIntake(options: { maxConnections: number; stopping?: () => boolean }) {
  const { log, lines } = eventLog();
  const metrics = new GateMetrics();
  const intake = new ConnectionIntake({
    options: {
      maxConnections: options.maxConnections,
      maxMessageBytes: 1 << 20,
      trustProxy: [],
      allowOrigins: [],
    },
    metrics,
    log,
    types: new MessageTypes(),
    events: { onText() {}, onClose() {} },
    nextId: () => 1,
    opened: () => {},
    stopping: options.stopping ?? (() => false),
  });
  return { intake, lines, metrics };
}

Deno.test("connection intake: serves up to --max-connections sockets, then refuses, and counts releases", () => {
  const { intake, lines } = newIntake({ maxConnections: 2 });
  assert.equal(intake.admit(PEER, "tcp"), "serve");
  assert.equal(intake.admit(PEER, "http"), "serve");
  assert.equal(intake.admit(PEER, "tcp"), "refuse");
  assert.equal(intake.sockets, 3);
  intake.release();
  intake.release();
  assert.equal(intake.sockets, 1);
  assert.equal(intake.admit(PEER, "http"), "serve");
  assert.ok(lines.includes("max connections"), "the budget is logged at start");
});

Deno.test("connection intake: past the fd ceiling a socket is dropped at once and counted refused", () => {
  const { intake, lines, metrics } = newIntake({ maxConnections: 1 });
  let dropped = 0;
  for (let i = 0; i < 20_000_000 && dropped === 0; i++) {
    if (intake.admit(PEER, "tcp") === "drop") dropped++;
  }
  assert.equal(dropped, 1, "a drop comes once the sockets reach the ceiling");
  assert.ok(lines.includes("connection dropped"));
  assert.match(metrics.render(), /gatehouse_connections_refused_total 1\b/);
});

Deno.test("connection intake: while the gate stops, every socket is dropped and not counted", () => {
  const { intake: stopping } = newIntake({ maxConnections: 10, stopping: () => true });
  assert.equal(stopping.admit(PEER, "tcp"), "drop");
  assert.equal(stopping.sockets, 0);
});
