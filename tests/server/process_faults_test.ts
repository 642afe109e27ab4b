import assert from "node:assert/strict";
import { faultText } from "../../server/process_faults.ts";
import { ROOT_DIR } from "../helpers/process.ts";

/** Runs a small program that imports the module; resolves with its exit code and lines. */
async function runProgram(body: string): Promise<{ code: number; lines: string[] }> {
  const program = `
import { createLogger } from "${ROOT_DIR}/server/log.ts";
import { installFaultHandlers } from "${ROOT_DIR}/server/process_faults.ts";
const log = createLogger("probe");
${body}
`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", program],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, lines: text.split("\n").filter(Boolean) };
}

Deno.test("process faults: a contained rejection is one ERROR line, and the program goes on", async () => {
  const { code, lines } = await runProgram(`
installFaultHandlers({ log, policy: { rejection: "continue", exception: "exit" } });
Promise.reject(new Error("first"));
setTimeout(() => console.log("still here"), 50);
`);
  assert.equal(code, 0);
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(
    lines[0],
    /^\S+ ERROR probe unhandled rejection action=continue stack="Error: first\\n\s+at /,
  );
  assert.equal(lines[1], "still here");
});

Deno.test("process faults: an exception with policy exit is one line, then exit 1 after cleanup", async () => {
  const { code, lines } = await runProgram(`
installFaultHandlers({
  log,
  policy: { rejection: "continue", exception: "exit" },
  beforeExit: async () => console.log("cleaned up"),
});
setTimeout(() => { throw new Error("boom"); }, 0);
setTimeout(() => console.log("never"), 5000);
`);
  assert.equal(code, 1);
  assert.match(
    lines[0],
    /^\S+ ERROR probe uncaught exception action=exit exitCode=1 stack="Error: boom\\n/,
  );
  assert.deepEqual(lines.slice(1), ["cleaned up"]);
});

Deno.test("process faults: a cleanup that hangs is cut short", async () => {
  const { code, lines } = await runProgram(`
installFaultHandlers({
  log,
  policy: { rejection: "exit", exception: "exit" },
  beforeExit: () => new Promise(() => {}),
  beforeExitMs: 100,
});
Promise.reject("not an Error");
`);
  assert.equal(code, 1);
  assert.match(
    lines[0],
    /unhandled rejection action=exit exitCode=1 stack="Thrown value \(not an Error\): not an Error"/,
  );
  assert.match(lines[1], /WARN probe cleanup before exit cut short afterMs=100/);
});

Deno.test("process faults: a storm of contained faults logs at most the limit per minute", async () => {
  const { code, lines } = await runProgram(`
installFaultHandlers({ log, policy: { rejection: "continue", exception: "continue" }, maxLinesPerMinute: 3 });
for (let i = 0; i < 10; i++) Promise.reject(new Error("storm " + i));
setTimeout(() => { throw new Error("thrown"); }, 0);
setTimeout(() => console.log("done"), 50);
`);
  assert.equal(code, 0);
  assert.equal(lines.filter((l) => / ERROR probe /.test(l)).length, 3);
  assert.equal(lines.at(-1), "done");
});

Deno.test("process faults: faultText carries the stack, or says what was thrown", () => {
  const error = new Error("x");
  assert.equal(faultText(error), error.stack);
  assert.equal(faultText({ a: 1 }), 'Thrown value (not an Error): {"a":1}');
  assert.equal(faultText(undefined), "Thrown value (not an Error): undefined");
});
