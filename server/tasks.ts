/**
 * The commands of deno.json's tasks, so that processes started by the supervisor (and by tests)
 * run with exactly the permissions their task lists.
 *
 * @example
 * ```ts
 * const args = taskArgs("gate:only"); // ["run", "--allow-net", …, "server/gate/main.ts"]
 * new Deno.Command(Deno.execPath(), { args: [...args, "--port", "0"], cwd: ROOT_DIR });
 * ```
 * @module
 */

/** The repository's root folder. */
export const ROOT_DIR: string = decodeURIComponent(new URL("../", import.meta.url).pathname)
  .replace(/\/$/, "");

/** The arguments after `deno` of a task in deno.json. Throws when the task is missing. */
export function taskArgs(task: string): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${ROOT_DIR}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const line = json.tasks[task];
  if (!line) throw new Error(`deno.json has no task ${task}`);
  const words = line.trim().split(/\s+/);
  if (words[0] !== "deno") throw new Error(`Task ${task} does not start with deno`);
  return words.slice(1);
}
