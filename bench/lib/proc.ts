/**
 * Child processes that are not deno.json tasks (the baselines and the load generators), and what
 * the harness reads about any process from /proc: resident memory, CPU time and the open-file
 * limit. Our own gate and services are started with tests/helpers/process.ts instead.
 *
 * @module
 */

/** The repository's root folder. */
export const ROOT_DIR: string = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
)
  .replace(/\/$/, "");

/** The bench folder. */
export const BENCH_DIR = `${ROOT_DIR}/bench`;

/** Kill functions of every child still running, for an interrupted run. */
const live = new Set<() => void>();

/** Remembers a child to end (SIGTERM) if the run is interrupted; returns the forget function. */
export function track(kill: () => void): () => void {
  live.add(kill);
  return () => live.delete(kill);
}

/** Sends SIGTERM to every tracked child (on Ctrl-C). */
export function killTracked(): void {
  for (const kill of live) kill();
  live.clear();
}

/** A running child whose output lines are kept and can be waited on. */
export interface Tool {
  child: Deno.ChildProcess;
  pid: number;
  /** Every stdout line so far. */
  lines: string[];
  /** Every stderr line so far. */
  errors: string[];
  /** The first stdout line (from `from` on) matching `pattern`; rejects on exit or timeout. */
  waitForLine(
    pattern: RegExp,
    timeoutMs: number,
    from?: number,
  ): Promise<RegExpMatchArray>;
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `command args…` in the repository root with piped output. */
export function spawnTool(
  command: string,
  args: string[],
  options: { name: string; onLine?: (line: string) => void } = {
    name: command,
  },
): Tool {
  const child = new Deno.Command(command, {
    args,
    cwd: ROOT_DIR,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const signal = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  const lines: string[] = [];
  const errors: string[] = [];
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const fn of [...wakers]) fn();
  };
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    into: string[],
    notify: boolean,
  ) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        into.push(line);
        if (notify) options.onLine?.(line);
      }
      wake();
    }
    if (rest) into.push(rest);
  };
  const pumps = Promise.all([
    pump(child.stdout, lines, true),
    pump(child.stderr, errors, false),
  ]);
  let exited = false;
  const forget = track(() => signal("SIGTERM"));
  const status = child.status.then(async (s) => {
    await pumps.catch(() => {});
    exited = true;
    forget();
    wake();
    return s;
  });
  const waitForLine = (pattern: RegExp, timeoutMs: number, from = 0) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        for (let i = from; i < lines.length; i++) {
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
            new Error(
              `${options.name} exited before printing ${pattern}:\n${
                [...lines, ...errors].slice(-30).join("\n")
              }`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${options.name} did not print ${pattern} in ${timeoutMs} ms:\n${
              [...lines, ...errors].slice(-30).join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        wakers.delete(check);
      };
      wakers.add(check);
      check();
    });
  return {
    child,
    pid: child.pid,
    lines,
    errors,
    waitForLine,
    status,
    async stop(graceMs = 5000) {
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
      await status;
      clearTimeout(timer);
    },
  };
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  if (!match) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used so far, or NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds a process's live threads have run, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds, not the 10 ms ticks of {@linkcode cpuSeconds}): for small amounts over a short
 * window, e.g. an idle server. Threads that ended are not counted. NaN once the process is gone.
 */
export function threadCpuSeconds(pid: number): number {
  try {
    let ns = 0;
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(
          Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0],
        );
      } catch { /* the thread ended */ }
    }
    return ns / 1e9;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds the whole machine has spent, from /proc/stat (all cores): `tasks` is user + nice +
 * system (time charged to processes), `irq` is hardware and soft interrupts (on loopback most of
 * the network stack runs there, charged to no process).
 */
export function machineCpuSeconds(): { tasks: number; irq: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  return { tasks: (t[0] + t[1] + t[2]) / CLOCK_TICKS, irq: (t[5] + t[6]) / CLOCK_TICKS };
}

/** The soft and hard limits on open files of this process. */
export function openFileLimit(): { soft: number; hard: number } {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const match = limits.match(/^Max open files\s+(\S+)\s+(\S+)/m);
  const parse = (text: string | undefined) =>
    text === undefined || text === "unlimited" ? Infinity : Number(text);
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a command to its end; resolves with its exit code and output. */
export async function runCommand(
  command: string,
  args: string[],
): Promise<{ code: number; output: string }> {
  const result = await new Deno.Command(command, {
    args,
    cwd: ROOT_DIR,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}
