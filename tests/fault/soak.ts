/**
 * `deno task soak`: every fault case at soak size, against the real processes, with a progress
 * line now and then and a table at the end (case, cases tried, faults injected, requests
 * answered, unanswered, data lost). The short versions of the same cases run in `deno task test`.
 *
 * Flags: `--cases N` fuzz inputs per fuzz target (100,000), `--scale N` the size of the other
 * cases (5,000: sign-ups, echo requests / 2, broadcast messages × 2, …), `--seed S` (from
 * `GATEHOUSE_FUZZ_SEED`, else 20241124), `--only NAME,…` (fuzz-gate, fuzz-license, faults,
 * abuse, security, process, login-attack, edge-ws, fd-budget). Exits 1 when a case fails; the failure names its
 * seed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as abuse from "./abuse_test.ts";
import * as edgeWs from "./edge_ws_test.ts";
import * as fdBudget from "./fd_budget_test.ts";
import * as faults from "./faults_under_load_test.ts";
import * as fuzzGate from "./fuzz_gate_test.ts";
import * as fuzzLicense from "./fuzz_license_test.ts";
import * as loginAttack from "./login_attack_test.ts";
import * as processFaults from "./process_faults_test.ts";
import * as security from "./security_test.ts";
import { type CaseResult, formatTable, type RunOptions, SEED_ENV, seedFromEnv } from "./harness.ts";

const HELP = `Usage: deno task soak [--cases N] [--scale N] [--seed S] [--only NAME,…]

  --cases N    fuzz inputs per fuzz target (100000)
  --scale N    size of the fault, abuse and security cases (5000)
  --seed S     the seed of every random choice (${SEED_ENV}, else 20241124)
  --only LIST  some of: fuzz-gate, fuzz-license, faults, abuse, security, process,
               login-attack, edge-ws, fd-budget
`;

interface Module {
  name: string;
  run: (options: RunOptions) => Promise<CaseResult[]>;
  size: "cases" | "scale";
}

const MODULES: Module[] = [
  { name: "fuzz-gate", run: fuzzGate.run, size: "cases" },
  { name: "fuzz-license", run: fuzzLicense.run, size: "cases" },
  { name: "faults", run: faults.run, size: "scale" },
  { name: "abuse", run: abuse.run, size: "scale" },
  { name: "security", run: security.run, size: "scale" },
  { name: "process", run: processFaults.run, size: "scale" },
  { name: "login-attack", run: loginAttack.run, size: "scale" },
  { name: "edge-ws", run: edgeWs.run, size: "scale" },
  { name: "fd-budget", run: fdBudget.run, size: "scale" },
];

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new TypeError(`--${name} must be a positive integer`);
  }
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      cases: { type: "string" },
      scale: { type: "string" },
      seed: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const cases = positive("cases", values.cases, 100_000);
  const scale = positive("scale", values.scale, 5000);
  const seed = values.seed === undefined
    ? seedFromEnv(20_241_124)
    : positive("seed", values.seed, 0);
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const chosen = MODULES.filter((m) => !only || only.includes(m.name));
  if (chosen.length === 0) {
    throw new TypeError(`--only names none of ${MODULES.map((m) => m.name).join(", ")}`);
  }

  const log = (line: string) => console.log(line);
  log(
    `[soak] seed ${seed} (${SEED_ENV}=${seed} replays it); ${cases} fuzz cases per target, scale ${scale}`,
  );
  const rows: CaseResult[] = [];
  const failures: string[] = [];
  const started = Date.now();
  for (const module of chosen) {
    const size = module.size === "cases" ? cases : scale;
    const at = Date.now();
    log(`[soak] ${module.name}: starting (size ${size})`);
    try {
      const result = await module.run({ seed, cases: size, log });
      rows.push(...result);
      log(`[soak] ${module.name}: done in ${Math.round((Date.now() - at) / 1000)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push(`${module.name}: ${message}`);
      rows.push({
        name: `${module.name} (FAILED)`,
        tried: 0,
        faults: 0,
        answered: 0,
        unanswered: 1,
        lost: 0,
        notes: [message.split("\n")[0]],
      });
      log(
        `[soak] ${module.name}: FAILED after ${Math.round((Date.now() - at) / 1000)} s\n${message}`,
      );
    }
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  log(`\n[soak] finished in ${minutes} min, seed ${seed}\n`);
  log(formatTable(rows));
  log("");
  for (const row of rows) {
    if (row.notes.length > 0) log(`- ${row.name}: ${row.notes.join("; ")}`);
  }
  if (failures.length > 0) {
    log(`\n[soak] ${failures.length} failed:\n${failures.join("\n")}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
