import assert from "node:assert/strict";
import { CLIENTS_PER_GATE } from "../../server/gate/cluster_ids.ts";
import {
  type Announce,
  BATCHES_LEVEL,
  GATE_LAPSE_MS,
  GateDirectory,
} from "../../server/gate/gate_directory.ts";

function announce(gate: number, serves: Record<string, number>, epoch = 0): Announce {
  return {
    gate,
    gateId: String(gate),
    epoch,
    firstId: gate * CLIENTS_PER_GATE + epoch * 2 ** 20 + 1,
    serves,
  };
}

Deno.test("gate directory: targets weighted by link counts, this gate first when alone", () => {
  const directory = new GateDirectory({ self: 1 });
  assert.equal(directory.targets("echo", 2), undefined, "only this gate: no NATS");
  assert.deepEqual(directory.targets("echo", 0), []);
  directory.hear(announce(2, { echo: 2 }));
  const firsts = new Map<number, number>();
  for (let i = 0; i < 30; i++) {
    const targets = directory.targets("echo", 1)!;
    assert.deepEqual([...targets].sort(), [1, 2], "every gate is tried before giving up");
    firsts.set(targets[0], (firsts.get(targets[0]) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(firsts), { 1: 10, 2: 20 });
  assert.equal(directory.knows("echo"), true);
  assert.equal(directory.knows("other"), false);
});

Deno.test("gate directory: a lapse, a new epoch and a clean stop each end a gate's run", () => {
  const directory = new GateDirectory({ self: 1 });
  assert.equal(directory.hear(announce(2, { a: 1 }), 0), undefined);
  assert.equal(directory.hear(announce(3, { a: 1 }), 0), undefined);
  assert.equal(directory.hear(announce(1, { a: 1 }), 0), undefined, "its own is ignored");
  const restarted = directory.hear(announce(2, { a: 1 }, 5), 10);
  assert.deepEqual(restarted, {
    gate: 2,
    reason: "restarted",
    toClientId: 2 * CLIENTS_PER_GATE + 5 * 2 ** 20 + 1,
    epoch: 0,
  });
  assert.deepEqual(directory.lapsed(GATE_LAPSE_MS - 1), []);
  directory.rejoined(GATE_LAPSE_MS);
  assert.deepEqual(directory.lapsed(GATE_LAPSE_MS + 1), [], "a rejoin gives a new lapse");
  assert.deepEqual(
    directory.lapsed(2 * GATE_LAPSE_MS + 1).map((g) => [g.gate, g.reason, g.epoch]).sort(),
    [[2, "no heartbeat", 5], [3, "no heartbeat", 0]],
    "the run that lapsed is named by its epoch (for its gate to read when it is back)",
  );
  directory.hear(announce(4, { a: 1 }), 0);
  assert.deepEqual(directory.hear({ ...announce(4, {}), down: true }, 1), {
    gate: 4,
    reason: "stopped",
    toClientId: 5 * CLIENTS_PER_GATE,
    epoch: 0,
  });
  assert.deepEqual(directory.targets("a", 0), []);
});

Deno.test("gate directory: the service types the other gates announce, until they are gone", () => {
  const directory = new GateDirectory({ self: 1 });
  directory.hear({ ...announce(2, { a: 1 }), types: ["login", "echo"] }, 0);
  directory.hear({ ...announce(3, { b: 1 }), types: ["group", 7 as unknown as string] }, 0);
  directory.hear({ ...announce(1, { c: 1 }), types: ["own"] }, 0);
  assert.deepEqual([...directory.types()].sort(), ["echo", "group", "login"]);
  directory.hear({ ...announce(2, {}), down: true }, 1);
  assert.deepEqual([...directory.types()], ["group"]);
  directory.lapsed(GATE_LAPSE_MS + 1);
  assert.deepEqual([...directory.types()], []);
});

Deno.test("gate directory: a gate reads batches only once its last announce says so", () => {
  const directory = new GateDirectory({ self: 1 });
  assert.equal(directory.readsBatches(2), false, "not heard yet: no batches");
  directory.hear(announce(2, { a: 1 }), 0);
  assert.equal(directory.readsBatches(2), false, "an announce without the field: no batches");
  directory.hear({ ...announce(2, { a: 1 }), batches: BATCHES_LEVEL }, 1);
  assert.equal(directory.readsBatches(2), true);
  directory.hear({ ...announce(2, { a: 1 }), batches: 2 }, 2);
  assert.equal(directory.readsBatches(2), true, "a later level reads level 1 too");
  for (const batches of [0, -1, 0.5, "1", null, Infinity]) {
    directory.hear({ ...announce(2, { a: 1 }), batches: batches as number }, 3);
    assert.equal(directory.readsBatches(2), false, `batches ${batches}`);
  }
  directory.hear({ ...announce(3, {}), batches: 1 }, 0);
  directory.hear({ ...announce(3, {}), down: true }, 1);
  assert.equal(directory.readsBatches(3), false, "a gate down reads nothing");
  directory.hear({ ...announce(4, {}), batches: 1 }, 0);
  directory.lapsed(GATE_LAPSE_MS + 1);
  assert.equal(directory.readsBatches(4), false, "a gate lapsed reads nothing");
  directory.hear({ ...announce(4, {}, 1) }, GATE_LAPSE_MS + 2);
  assert.equal(directory.readsBatches(4), false, "restarted at an earlier version: no batches");
});
