/**
 * Starts our real processes for integration tests, with the same command and permissions as
 * their `deno task` in deno.json, and waits for the log line that says they are ready.
 *
 * @example
 * ```ts
 * const gate = await startProcess({
 *   task: "gate:only",
 *   args: ["--port", "0", "--tcp-port", "0", "--data-dir", dir],
 *   ready: /gate listening http=(\S+) tcp=(\S+)/,
 * });
 * console.log(gate.match[1]);
 * await gate.stop();
 * ```
 * @module
 */

import { ROOT_DIR, taskArgs } from "../../server/tasks.ts";

export { ROOT_DIR, taskArgs };

/** A running child process of ours. */
export interface RunningProcess {
  child: Deno.ChildProcess;
  /** The ready line's match. */
  match: RegExpMatchArray;
  /** Every line written so far (stdout and stderr). */
  lines: string[];
  /** Resolves with the first line matching `pattern` from now or already seen after `from`. */
  waitForLine(
    pattern: RegExp,
    options?: { timeoutMs?: number; from?: number },
  ): Promise<RegExpMatchArray>;
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number>;
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode startProcess}. */
export interface StartOptions {
  /** The deno.json task whose command and permissions are used. */
  task: string;
  /**
   * Deno's arguments instead of the task's, e.g. `["run", "--allow-all", "tests/x.ts"]` for a test
   * program (`task` then only names it in messages).
   */
  denoArgs?: string[];
  args?: string[];
  /** A line pattern that says the process is ready. */
  ready: RegExp;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Echo the child's output to this process's stdout (for debugging). */
  echo?: boolean;
  /** Runs it under `ulimit -n` of this many open files (through `sh`, which execs it). */
  openFileLimit?: number;
  /** Another checkout to run the task of (its deno.json, its files); this repository's if absent. */
  rootDir?: string;
}

/** The arguments after `deno` of a task in the deno.json of another checkout. */
function otherTaskArgs(rootDir: string, task: string): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${rootDir}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const words = (json.tasks[task] ?? "").trim().split(/\s+/);
  if (words[0] !== "deno") throw new Error(`${rootDir}/deno.json has no deno task ${task}`);
  return words.slice(1);
}

/** Starts a process and waits until it prints its ready line. */
export async function startProcess(options: StartOptions): Promise<RunningProcess> {
  const args = [
    ...(options.denoArgs ??
      (options.rootDir ? otherTaskArgs(options.rootDir, options.task) : taskArgs(options.task))),
    ...(options.args ?? []),
  ];
  const limit = options.openFileLimit;
  const child = new Deno.Command(limit === undefined ? Deno.execPath() : "sh", {
    args: limit === undefined
      ? args
      : ["-c", `ulimit -n ${Math.floor(limit)} && exec "$0" "$@"`, Deno.execPath(), ...args],
    cwd: options.rootDir ?? ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: options.env,
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let rest = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += value;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (options.echo || Deno.env.get("GATEHOUSE_TEST_ECHO")) {
          console.log(`[${options.task}] ${line}`);
        }
      }
      for (const wake of [...waiters]) wake();
    }
    if (rest) lines.push(rest);
    for (const wake of [...waiters]) wake();
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then(async (s) => {
    await pumps;
    exited = true;
    for (const wake of [...waiters]) wake();
    return s;
  });

  const waitForLine = (
    pattern: RegExp,
    wait: { timeoutMs?: number; from?: number } = {},
  ): Promise<RegExpMatchArray> => {
    const timeoutMs = wait.timeoutMs ?? 15_000;
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = wait.from ?? 0; i < lines.length; i++) {
          const m = lines[i].match(pattern);
          if (m) {
            done();
            resolve(m);
            return;
          }
        }
        if (exited) {
          done();
          reject(
            new Error(`${options.task} exited before printing ${pattern}:\n${lines.join("\n")}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${options.task} did not print ${pattern} in ${timeoutMs} ms:\n${lines.join("\n")}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  };

  let match: RegExpMatchArray;
  try {
    match = await waitForLine(options.ready, { timeoutMs: options.timeoutMs ?? 30_000 });
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await status;
    throw error;
  }
  const kill = (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  return {
    child,
    match,
    lines,
    waitForLine,
    kill,
    status,
    async stop() {
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), 10_000);
      const s = await status;
      clearTimeout(timer);
      return s.code;
    },
  };
}

/** A fresh temporary data directory. */
export function tempDataDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "gatehouse_test_" });
}

/**
 * Whether process `pid` runs (a zombie, waiting for its parent, does not count), read from
 * `/proc/<pid>/stat`.
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
