import assert from "node:assert/strict";
import { ROOT_DIR } from "../helpers/process.ts";

/** Runs `body` as a module that has `log` (a logger named "probe"); returns its output. */
async function runProbe(body: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_log_output_" });
  try {
    const file = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      file,
      `import { createLogger } from "${ROOT_DIR}/server/log.ts";\n` +
        `const log = createLogger("probe");\n${body}\n`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", `--allow-read=${ROOT_DIR}`, file],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function events(text: string): string[] {
  return text.split("\n").filter((line) => / INFO | WARN /.test(line)).map((line) =>
    line.split(" ")[3]
  );
}

Deno.test("log output: lines of one task come out in order, a warning after the lines before it", async () => {
  const { code, stdout, stderr } = await runProbe(`
    log.info("one"); log.info("two"); log.warn("three"); log.info("four");
    setTimeout(() => log.info("five"), 5);
  `);
  assert.equal(code, 0);
  assert.deepEqual(events(stdout), ["one", "two", "four", "five"]);
  assert.deepEqual(events(stderr), ["three"]);
});

Deno.test("log output: lines waiting when the process ends are not lost", async (t) => {
  const cases = [
    { name: "Deno.exit", body: `log.info("last"); Deno.exit(3);`, code: 3 },
    {
      name: "an uncaught error in a timer",
      body: `setTimeout(() => { log.info("last"); throw new Error("boom"); }, 5);`,
      code: 1,
    },
    {
      name: "an unhandled rejection",
      body: `setTimeout(() => { log.info("last"); void Promise.reject(new Error("boom")); }, 5);`,
      code: 1,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { code, stdout } = await runProbe(c.body);
      assert.equal(code, c.code);
      assert.deepEqual(events(stdout), ["last"]);
    });
  }
});
