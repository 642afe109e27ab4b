/**
 * Why a child could not start, in one sentence for the supervisor's log: the port it could not
 * listen on ("gate cannot listen on 127.0.0.1:8080: address in use"), or else the last thing it
 * said (its last stderr line or `ERROR` line) and how it exited.
 *
 * A child that finds its port taken says only "Address already in use (os error 98)"; the
 * supervisor knows which ports it gave the child (`ChildSpec.listens`) and asks `ss -Hltnp`
 * (iproute2) which of them something listens on, and what (Deno reads `/proc/net/tcp` only with
 * every permission; the supervisor has `--allow-run` already, like `ps` in pid_file.ts). Without
 * `ss` the reason names every port the child was given.
 *
 * @example
 * ```ts
 * import { explainStartFailure } from "./start_failure.ts";
 * const reason = await explainStartFailure({
 *   name: "gate",
 *   how: "code 1",
 *   lines: [{ text: 'ERROR gate start failed error="Address already in use (os error 98)"' }],
 *   listens: [{ host: "127.0.0.1", port: 8080 }],
 * });
 * // "gate cannot listen on 127.0.0.1:8080: address in use" when 8080 is taken
 * ```
 * @module
 */

/** An address a child listens on. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** A line a child wrote. */
export interface ChildLine {
  text: string;
  /** True when it came on stderr. */
  stderr?: boolean;
}

/** What the supervisor knows about a run that ended too soon. */
export interface StartFailure {
  /** The child's name. */
  name: string;
  /** How it ended ("code 1", "signal SIGKILL"), or the spawn error's message. */
  how: string;
  /** Its last lines, oldest first. */
  lines: readonly ChildLine[];
  /** The addresses it was told to listen on. */
  listens?: readonly ListenAddress[];
  /** The ports something listens on now, with who when known; asked of `ss` when absent. */
  listening?: ReadonlyMap<number, string | undefined>;
}

const ADDRESS_IN_USE = /address already in use|AddrInUse|EADDRINUSE|os error 98\b/i;

/** The longest quoted line in a reason. */
const MAX_QUOTED = 300;

/**
 * The listening TCP ports in the output of `ss -Hltnp`, each with the process holding it when
 * `ss` may say (a process of the same user): "deno pid 1234".
 *
 * @example
 * ```ts
 * import { parseSsListening } from "./start_failure.ts";
 * parseSsListening('LISTEN 0 511 127.0.0.1:8080 0.0.0.0:* users:(("deno",pid=1234,fd=21))');
 * // Map { 8080 => "deno pid 1234" }
 * ```
 */
export function parseSsListening(text: string): Map<number, string | undefined> {
  const ports = new Map<number, string | undefined>();
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || fields[0] !== "LISTEN") continue;
    const port = Number(fields[3].slice(fields[3].lastIndexOf(":") + 1));
    if (!Number.isInteger(port)) continue;
    const user = line.match(/users:\(\("([^"]*)",pid=(\d+)/);
    const holder = user ? `${user[1]} pid ${user[2]}` : undefined;
    if (!ports.has(port) || holder) ports.set(port, holder);
  }
  return ports;
}

/** The ports something listens on, from `ss`; empty when it cannot be run. */
export async function listeningPorts(): Promise<Map<number, string | undefined>> {
  try {
    const output = await new Deno.Command("ss", {
      args: ["-Hltnp"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return parseSsListening(new TextDecoder().decode(output.stdout));
  } catch {
    return new Map(); // no ss here: the reason names every port instead
  }
}

function hostPort(address: ListenAddress): string {
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** The line that best says what went wrong: the last on stderr, else the last ERROR, else the last. */
function telling(lines: readonly ChildLine[]): string | undefined {
  const pick = lines.findLast((l) => l.stderr && l.text.trim() !== "") ??
    lines.findLast((l) => / ERROR /.test(l.text)) ??
    lines.findLast((l) => l.text.trim() !== "");
  if (!pick) return undefined;
  const text = pick.text.trim();
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
}

/** One sentence saying why the child did not start. */
export async function explainStartFailure(failure: StartFailure): Promise<string> {
  const { name, lines } = failure;
  const listens = (failure.listens ?? []).filter((a) => a.port > 0);
  if (lines.some((l) => ADDRESS_IN_USE.test(l.text)) && listens.length > 0) {
    const listening = failure.listening ?? await listeningPorts();
    const taken = listens.filter((a) => listening.has(a.port));
    if (taken.length > 0) {
      const holders = [...new Set(taken.map((a) => listening.get(a.port)).filter(Boolean))];
      const by = holders.length > 0 ? ` (by ${holders.join(", ")})` : "";
      return `${name} cannot listen on ${taken.map(hostPort).join(" and ")}: address in use${by}`;
    }
    return `${name} cannot listen on ${listens.map(hostPort).join(" or ")}: address in use`;
  }
  const said = telling(lines);
  return said === undefined
    ? `${name} exited with ${failure.how} and wrote nothing`
    : `${name} exited with ${failure.how}; its last words: ${said}`;
}
