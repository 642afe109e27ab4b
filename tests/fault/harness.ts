/**
 * What every fault case shares: the `run(options)` shape that both the short tests and the soak
 * call, the row each run reports for the soak's table, the seed, and the probes a case uses on
 * the real processes (resident memory, the gate's metrics and health).
 *
 * @example
 * ```ts
 * export async function run(options: RunOptions): Promise<CaseResult[]> {
 *   const row = newResult("fuzz gate tcp");
 *   // … try cases, count into row …
 *   return [row];
 * }
 * ```
 * @module
 */

/** What a case module's `run` is given. */
export interface RunOptions {
  /** The seed of every random choice; a failure names it. */
  seed: number;
  /** How much to do: fuzz cases, sign-ups, clients… (each module says what it counts). */
  cases: number;
  /** Where progress lines go. */
  log: (line: string) => void;
}

/** One row of the soak's table. */
export interface CaseResult {
  /** The case's name. */
  name: string;
  /** Inputs sent or scenarios run. */
  tried: number;
  /** Faults injected: malformed inputs, kills, restarts, abusive clients. */
  faults: number;
  /** Requests (or inputs) that got their answer. */
  answered: number;
  /** Requests (or inputs) that never got one: must be 0. */
  unanswered: number;
  /** Acknowledged data missing afterwards (accounts, seats, messages): must be 0. */
  lost: number;
  /** Anything worth a line in the report (memory, timings). */
  notes: string[];
}

/** A zeroed row. */
export function newResult(name: string): CaseResult {
  return { name, tried: 0, faults: 0, answered: 0, unanswered: 0, lost: 0, notes: [] };
}

/** The environment variable that sets the seed. */
export const SEED_ENV = "GATEHOUSE_FUZZ_SEED";

/** The seed from `GATEHOUSE_FUZZ_SEED`, or `fallback`. */
export function seedFromEnv(fallback: number): number {
  let text: string | undefined;
  try {
    text = Deno.env.get(SEED_ENV);
  } catch {
    text = undefined;
  }
  if (text === undefined || text === "") return fallback;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new TypeError(`${SEED_ENV} must be a non-negative integer, not ${JSON.stringify(text)}`);
  }
  return seed;
}

/** An error that names the seed (and the case) that produced it, so that it can be replayed. */
export class SeededFailure extends Error {
  constructor(options: { seed: number; name: string; detail: string; caseIndex?: number }) {
    const where = options.caseIndex === undefined ? "" : ` case ${options.caseIndex}`;
    super(
      `${options.name}: ${options.detail}\n  seed ${options.seed}${where} — replay with ` +
        `${SEED_ENV}=${options.seed}`,
    );
    this.name = "SeededFailure";
  }
}

/**
 * Runs `fn`; any error it throws is rethrown with the seed named in its message (and printed),
 * so that a failure in the test run or the soak can be replayed.
 */
export async function withSeed<T>(
  options: { seed: number; name: string },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SeededFailure) {
      console.error(error.message);
      throw error;
    }
    const failure = new SeededFailure({
      seed: options.seed,
      name: options.name,
      detail: error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error),
    });
    console.error(failure.message);
    throw failure;
  }
}

/** Throws a {@linkcode SeededFailure} unless `condition` holds. */
export function check(
  condition: unknown,
  options: { seed: number; name: string; detail: string; caseIndex?: number },
): asserts condition {
  if (!condition) throw new SeededFailure(options);
}

/** The resident set size of a process, in KiB, read with `ps` (works for any of our children). */
export async function rssKiB(pid: number): Promise<number> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const kib = Number(new TextDecoder().decode(output.stdout).trim());
  if (!Number.isFinite(kib) || kib <= 0) throw new Error(`No RSS for process ${pid}`);
  return kib;
}

/** Memory of a process before, after and after a settle, with the bound it must stay under. */
export interface MemoryReport {
  baselineKiB: number;
  afterKiB: number;
  settledKiB: number;
  boundKiB: number;
}

/** The generous bound memory must come back under: the baseline plus 64 MiB. */
export const MEMORY_SLACK_KIB = 64 * 1024;

/**
 * Reads a process's memory after the work and again after `settleMs`, and says whether the
 * settled value is under the baseline plus {@linkcode MEMORY_SLACK_KIB}. No timing is asserted:
 * the settle only gives buffers a chance to be freed.
 */
export async function memoryAfter(
  options: { pid: number; baselineKiB: number; settleMs?: number },
): Promise<MemoryReport & { ok: boolean; line: string }> {
  const afterKiB = await rssKiB(options.pid);
  await new Promise((resolve) => setTimeout(resolve, options.settleMs ?? 1500));
  const settledKiB = await rssKiB(options.pid);
  const boundKiB = options.baselineKiB + MEMORY_SLACK_KIB;
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  return {
    baselineKiB: options.baselineKiB,
    afterKiB,
    settledKiB,
    boundKiB,
    ok: settledKiB < boundKiB,
    line: `RSS ${mib(options.baselineKiB)} → ${mib(afterKiB)} → ${mib(settledKiB)} MiB ` +
      `(bound ${mib(boundKiB)})`,
  };
}

/** The gate's Prometheus counters and gauges, by full sample name. */
export async function gateMetrics(httpUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** One metric of the gate, 0 when absent. */
export async function gateMetric(httpUrl: string, name: string): Promise<number> {
  return (await gateMetrics(httpUrl)).get(name) ?? 0;
}

/** The gate's open connections, from `/healthz`. */
export async function gateConnections(httpUrl: string): Promise<number> {
  const health = await (await fetch(`${httpUrl}/healthz`)).json();
  return health.connections as number;
}

/** Formats rows as the soak's table (Markdown, so that it can go into the README as it is). */
export function formatTable(rows: CaseResult[]): string {
  const header = [
    "case",
    "cases tried",
    "faults injected",
    "requests answered",
    "unanswered",
    "data lost",
  ];
  const body = rows.map((r) => [
    r.name,
    r.tried.toLocaleString("en-US"),
    r.faults.toLocaleString("en-US"),
    r.answered.toLocaleString("en-US"),
    r.unanswered.toLocaleString("en-US"),
    r.lost.toLocaleString("en-US"),
  ]);
  const total = (pick: (r: CaseResult) => number) =>
    rows.reduce((sum, r) => sum + pick(r), 0).toLocaleString("en-US");
  body.push([
    "**total**",
    total((r) => r.tried),
    total((r) => r.faults),
    total((r) => r.answered),
    total((r) => r.unanswered),
    total((r) => r.lost),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join(" | ")} |`;
  const rule = `| ${
    widths.map((w, i) => i === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":").join(" | ")
  } |`;
  return [line(header), rule, ...body.map(line)].join("\n");
}
