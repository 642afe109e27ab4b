import assert from "node:assert/strict";
import { acceptLoop } from "../../server/accept_loop.ts";
import type { Logger } from "../../server/log.ts";

function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (event: string) => lines.push(`${level} ${event}`);
  return {
    lines,
    log: { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") },
  };
}

Deno.test("acceptLoop backs off through accept errors, logs once per burst, ends on close", async () => {
  // A listener whose accept fails like a process out of descriptors, then recovers.
  const script: Array<"emfile" | "conn" | "closed"> = [
    "emfile",
    "emfile",
    "emfile",
    "emfile",
    "conn",
    "emfile",
    "conn",
    "closed",
  ];
  const conn = { close() {} } as unknown as Deno.Conn;
  const listener = {
    accept(): Promise<Deno.Conn> {
      const next = script.shift();
      if (next === "conn") return Promise.resolve(conn);
      if (next === "closed") return Promise.reject(new Deno.errors.BadResource("closed"));
      return Promise.reject(new Error("Too many open files (os error 24)"));
    },
  } as unknown as Deno.Listener;
  const { log, lines } = recordingLog();
  let accepted = 0;
  const started = performance.now();
  await acceptLoop({
    listener,
    name: "test",
    log,
    onConn: () => accepted++,
    minBackoffMs: 5,
    maxBackoffMs: 20,
  });
  assert.equal(accepted, 2);
  assert.deepEqual(lines, [
    "error accept failed, backing off",
    "info accepting again",
    "error accept failed, backing off",
    "info accepting again",
  ]);
  // 5 + 10 + 20 + 20 ms, then 5 ms for the second burst.
  assert.ok(performance.now() - started >= 55);
});
