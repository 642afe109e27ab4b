/**
 * The supervisor's pid file, `<data-dir>/gatehouse.pid`: its own pid on the first line, then
 * `name pid` for each child. At start, a stale file's processes that are still ours are ended.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** Marks of our processes in their command lines, so that a reused pid is never killed. */
const OUR_PROCESSES = [
  "server/supervisor/",
  "server/gate/main.ts",
  "server/login/main.ts",
  "server/group/main.ts",
  "server/license/main.ts",
  "server/echo/main.ts",
  "nats-server",
];

/** The pids a pid file lists. */
export async function readPidFile(path: string): Promise<number[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return [];
  }
  return text.split("\n")
    .map((line) => Number(line.trim().split(/\s+/).pop()))
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

/** Writes the pid file: this process, then each child. */
export async function writePidFile(
  path: string,
  entries: { self: number; children: Array<{ name: string; pid?: number }> },
): Promise<void> {
  const lines = [String(entries.self)];
  for (const child of entries.children) if (child.pid) lines.push(`${child.name} ${child.pid}`);
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, lines.join("\n") + "\n");
  await Deno.rename(tmp, path);
}

/**
 * The state and command line of a running process, or undefined when there is none. Asks `ps`:
 * Deno reads `/proc/<pid>/cmdline` only with every permission.
 */
async function processInfo(pid: number): Promise<{ state: string; args: string } | undefined> {
  try {
    const output = await new Deno.Command("ps", {
      args: ["-o", "stat=,args=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const line = new TextDecoder().decode(output.stdout).trim();
    if (!output.success || !line) return undefined;
    const [state, ...args] = line.split(/\s+/);
    return { state, args: args.join(" ") };
  } catch {
    return undefined;
  }
}

/** Whether a process runs (a zombie, waiting for its parent, does not count). */
async function alive(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info !== undefined && !info.state.startsWith("Z");
}

/**
 * Ends the processes of a stale pid file that are still running and are ours: SIGTERM, then
 * SIGKILL after `graceMs`. Returns the pids it ended.
 */
export async function endStaleProcesses(
  path: string,
  options: { log: Logger; graceMs?: number },
): Promise<number[]> {
  const ended: number[] = [];
  for (const pid of await readPidFile(path)) {
    if (pid === Deno.pid) continue;
    const info = await processInfo(pid);
    const cmdline = info?.args;
    if (!cmdline || !OUR_PROCESSES.some((mark) => cmdline.includes(mark))) continue;
    options.log.warn("ending stale process", { pid, cmd: cmdline.slice(0, 120) });
    try {
      Deno.kill(pid, "SIGTERM");
    } catch {
      continue;
    }
    const deadline = Date.now() + (options.graceMs ?? 5000);
    while (await alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (await alive(pid)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    ended.push(pid);
  }
  return ended;
}
