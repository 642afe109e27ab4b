/**
 * No silent death, against the real processes:
 * - unhandled faults: each process (gate, login, group, license, echo, supervisor) runs its real
 *   `main` under `fault_injector.ts`, which causes an unhandled rejection and an uncaught
 *   exception on a signal. Each is logged as one ERROR line carrying its stack, and the process
 *   keeps serving (it is checked with a real request) or exits 1, as its `main.ts` declares;
 * - the supervisor while the gate cannot bind (its port held by another listener): one line
 *   names the port, and SIGTERM stops the supervisor at once with every child gone, whether the
 *   gate is in its restart backoff or starting;
 * - the supervisor's start limit: with `--start-limit-burst 2` it gives up by itself and exits 1
 *   with the reason.
 *
 * `run({cases})`: `cases / 500` (2 to 20) stops of the SIGTERM case, and the others once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { State } from "../../client/mod.ts";
import { encodeFrame } from "../../shared/mod.ts";
import type { FaultPolicy } from "../../server/process_faults.ts";
import {
  processAlive,
  type RunningProcess,
  startProcess,
  tempDataDir,
} from "../helpers/process.ts";
import { openRaw } from "../helpers/raw.ts";
import { connectClient, freePorts, INTEGRATION, startGate } from "../helpers/suite.ts";
import { INJECT_SIGNAL, INJECTED } from "./fault_injector.ts";
import {
  type CaseResult,
  check,
  newResult,
  type RunOptions,
  seedFromEnv,
  withSeed,
} from "./harness.ts";

type Injectable = "gate" | "login" | "group" | "license" | "echo" | "supervisor";

/** What each process's main.ts declares (and says why); this test holds them to it. */
const DECLARED: Record<Injectable, FaultPolicy> = {
  gate: { rejection: "continue", exception: "exit" },
  login: { rejection: "exit", exception: "exit" },
  group: { rejection: "continue", exception: "exit" },
  license: { rejection: "continue", exception: "exit" },
  echo: { rejection: "exit", exception: "exit" },
  supervisor: { rejection: "continue", exception: "exit" },
};

/** Longest time a stop signal may take to end the supervisor (it takes well under 1 s). */
const PROMPT_STOP_MS = 3000;

/** The pids of every child the supervisor started, from its log. */
function childPids(lines: string[]): number[] {
  return lines.flatMap((line) => {
    const m = line.match(/supervisor child started child=\S+ pid=(\d+)/);
    return m ? [Number(m[1])] : [];
  });
}

/** The promise's value, or `undefined` when it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The log line of an injected fault: one ERROR line, with the injector's frame in its stack. */
function faultLine(kind: keyof FaultPolicy, action: string): RegExp {
  const event = kind === "rejection" ? "unhandled rejection" : "uncaught exception";
  const exit = action === "exit" ? " exitCode=1" : "";
  return new RegExp(
    `^\\S+ ERROR \\S+ ${event} action=${action}${exit} stack="Error: ${
      escape(INJECTED[kind])
    }\\\\n\\s+at .*fault_injector\\.ts:`,
  );
}

interface Shared {
  gate: { wsUrl: string; dataDir: string };
}

/** Starts `name` under the injector; resolves once it is up, with a check that it serves. */
async function startInjectable(
  name: Injectable,
  shared: Shared,
): Promise<{ process: RunningProcess; serves: () => Promise<void> }> {
  const dataDir = name === "gate" || name === "license" || name === "supervisor"
    ? await tempDataDir()
    : shared.gate.dataDir;
  const service = ["--gate", shared.gate.wsUrl, "--data-dir", dataDir, "--name", `${name}-x`];
  const ports = freePorts(3);
  const setup: Record<Injectable, { args: string[]; ready: RegExp }> = {
    gate: {
      args: ["--port", "0", "--tcp-port", "0", "--data-dir", dataDir],
      ready: /gate listening http=(\S+)/,
    },
    login: { args: [...service, "--hash-cost", "test"], ready: /registered gate=/ },
    group: { args: service, ready: /registered gate=/ },
    echo: { args: service, ready: /registered gate=/ },
    license: {
      args: ["--port", "0", "--data-dir", dataDir, "--heartbeat-ms", "1000"],
      ready: /license listening tcp=(\S+)/,
    },
    supervisor: {
      args: [
        "--data-dir",
        dataDir,
        "--port",
        String(ports[0]),
        "--tcp-port",
        String(ports[1]),
        "--license-port",
        String(ports[2]),
      ],
      ready: /supervisor ready web=(\S+)/,
    },
  };
  const process = await startProcess({
    task: `${name} under fault_injector.ts`,
    denoArgs: ["run", "--allow-all", "tests/fault/fault_injector.ts"],
    args: setup[name].args,
    ready: setup[name].ready,
    env: { GATEHOUSE_TEST_PROCESS: name },
  });
  const url = process.match[1];
  const healthy = async (httpUrl: string) => {
    const response = await fetch(`${httpUrl.replace(/\/$/, "")}/healthz`);
    assert.equal(((await response.json()) as { status: string }).status, "ok");
  };
  const serves: Record<Injectable, () => Promise<void>> = {
    gate: () => healthy(url),
    supervisor: () => healthy(url),
    license: async () => {
      const conn = await openRaw(url);
      try {
        conn.send(encodeFrame({ seq: 1, type: 1, body: "{}" })); // HeartbeatReq
        const answer = await conn.next(5000);
        assert.ok(answer.kind === "text" && answer.type === 2, "a HeartbeatRsp");
      } finally {
        conn.close();
      }
    },
    group: async () => {
      const client = await connectClient(shared.gate.wsUrl);
      try {
        // Answered by the group service itself (the gate would say SERVER_OFF without it).
        const response = await client.request("cs_msg_group_list", {});
        assert.equal(response.state, State.NOT_LOGGED_IN);
      } finally {
        client.close();
      }
    },
    login: () => Promise.reject(new Error("login does not go on after a fault")),
    echo: () => Promise.reject(new Error("echo does not go on after a fault")),
  };
  return { process, serves: serves[name] };
}

/**
 * Runs `name` and injects each kind of fault; checks the line, and that it serves on or exits 1
 * as declared. Returns the number of faults injected.
 */
async function injectAll(name: Injectable, shared: Shared, seed: number): Promise<number> {
  let running: Awaited<ReturnType<typeof startInjectable>> | undefined;
  const started: RunningProcess[] = [];
  let injected = 0;
  const fail = (detail: string) => ({ seed, name: `unhandled faults: ${name}`, detail });
  try {
    for (const kind of ["rejection", "exception"] as const) {
      if (!running) {
        running = await startInjectable(name, shared);
        started.push(running.process);
      }
      const { process } = running;
      const action = DECLARED[name][kind];
      const from = process.lines.length;
      process.kill(INJECT_SIGNAL[kind]);
      injected++;
      await process.waitForLine(faultLine(kind, action), { from, timeoutMs: 10_000 });
      if (action === "continue") {
        await new Promise((resolve) => setTimeout(resolve, 200));
        await running.serves();
        continue;
      }
      const status = await process.status;
      check(status.code === 1, fail(`${kind}: exit code ${status.code}, not 1`));
      const pids = childPids(process.lines);
      for (const pid of pids) check(!processAlive(pid), fail(`${kind}: child ${pid} still runs`));
      running = undefined;
    }
    for (const line of started.flatMap((p) => p.lines)) {
      check(!line.includes("Uncaught"), fail(`Deno's own fault report: ${line}`));
    }
  } finally {
    if (running) {
      const code = await running.process.stop();
      check(code === 0, fail(`a clean stop after a contained fault exited ${code}`));
    }
  }
  return injected;
}

async function unhandledFaults(options: RunOptions): Promise<CaseResult> {
  const row = newResult("unhandled faults in every process");
  const gate = await startGate();
  try {
    for (const name of Object.keys(DECLARED) as Injectable[]) {
      options.log(`[process] unhandled faults: ${name}`);
      const injected = await injectAll(name, { gate }, options.seed);
      row.tried += injected;
      row.faults += injected;
      row.answered += injected;
    }
  } finally {
    await gate.stop();
  }
  row.notes.push("each logged as one ERROR line with its stack, then served on or exited 1");
  return row;
}

/** A listener on 127.0.0.1 holding a port, as another program would. */
function occupy(port: number): Deno.Listener {
  return Deno.listen({ hostname: "127.0.0.1", port });
}

function supervisorArgs(dataDir: string, ports: number[], extra: string[] = []): string[] {
  return [
    "--data-dir",
    dataDir,
    "--port",
    String(ports[0]),
    "--tcp-port",
    String(ports[1]),
    "--license-port",
    String(ports[2]),
    ...extra,
  ];
}

async function sigtermWhileBlocked(options: RunOptions): Promise<CaseResult> {
  const row = newResult("supervisor SIGTERM, gate cannot bind");
  const stops = Math.min(20, Math.max(2, Math.round(options.cases / 500)));
  let slowest = 0;
  for (let round = 0; round < stops; round++) {
    const fail = (detail: string) => ({
      seed: options.seed,
      name: row.name,
      detail: `round ${round}: ${detail}`,
    });
    const ports = freePorts(3);
    const blocker = occupy(ports[0]);
    const dataDir = await tempDataDir();
    const supervisor = await startProcess({
      task: "supervisor",
      args: supervisorArgs(dataDir, ports),
      ready: /supervisor starting pid=/,
    });
    try {
      row.tried++;
      row.faults++;
      const named = new RegExp(
        `^\\S+ ERROR supervisor child start failed child=gate .*reason="gate cannot listen on ` +
          `127\\.0\\.0\\.1:${ports[0]}: address in use`,
      );
      await supervisor.waitForLine(named, { timeoutMs: 20_000 });
      // Even rounds stop it during the restart backoff, odd ones while the gate is starting.
      if (round % 2 === 1) {
        const from = supervisor.lines.length;
        await supervisor.waitForLine(/supervisor child started child=gate/, { from });
      }
      const at = performance.now();
      supervisor.kill("SIGTERM");
      const status = await within(supervisor.status, PROMPT_STOP_MS);
      const tookMs = performance.now() - at;
      check(status !== undefined, fail(`still running ${PROMPT_STOP_MS} ms after SIGTERM`));
      check(status.code === 0, fail(`exit code ${status.code} after SIGTERM, not 0`));
      slowest = Math.max(slowest, tookMs);
      row.answered++;
      for (const pid of childPids(supervisor.lines)) {
        if (processAlive(pid)) row.lost++;
        check(!processAlive(pid), fail(`child ${pid} still runs after the supervisor exited`));
      }
      check(
        await Deno.stat(`${dataDir}/gatehouse.pid`).then(() => false, () => true),
        fail("the pid file is left behind"),
      );
    } finally {
      supervisor.kill("SIGKILL");
      blocker.close();
    }
  }
  row.notes.push(`slowest stop after SIGTERM ${Math.round(slowest)} ms (bound ${PROMPT_STOP_MS})`);
  return row;
}

async function startLimit(options: RunOptions): Promise<CaseResult> {
  const row = newResult("supervisor start limit, port in use");
  const fail = (detail: string) => ({ seed: options.seed, name: row.name, detail });
  const ports = freePorts(3);
  const blocker = occupy(ports[1]); // the gate's framed-TCP port this time
  const dataDir = await tempDataDir();
  const supervisor = await startProcess({
    task: "supervisor",
    args: supervisorArgs(dataDir, ports, [
      "--start-limit-burst",
      "2",
      "--start-limit-interval-s",
      "60",
    ]),
    ready: /supervisor starting pid=/,
  });
  try {
    row.tried++;
    row.faults++;
    const status = await within(supervisor.status, 20_000);
    check(status !== undefined, fail("still running 20 s after two failed starts"));
    check(status.code === 1, fail(`exit code ${status.code}, not 1`));
    const reason = `gate cannot listen on 127\\.0\\.0\\.1:${ports[1]}: address in use`;
    const gaveUp = new RegExp(
      `^\\S+ ERROR supervisor giving up child=gate reason="${reason}.*; 2 failed starts within 60 s"`,
    );
    check(supervisor.lines.some((l) => gaveUp.test(l)), fail("no line giving the reason"));
    check(
      supervisor.lines.some((l) => new RegExp(`^Gatehouse stopped: ${reason}`).test(l)),
      fail("no reason on stderr"),
    );
    for (const pid of childPids(supervisor.lines)) {
      check(!processAlive(pid), fail(`child ${pid} still runs after the supervisor gave up`));
    }
    row.answered++;
  } finally {
    supervisor.kill("SIGKILL");
    blocker.close();
  }
  return row;
}

/** Every case at the given size (the soak's entry point). */
export async function run(options: RunOptions): Promise<CaseResult[]> {
  const rows: CaseResult[] = [];
  for (const scenario of [sigtermWhileBlocked, startLimit, unhandledFaults]) {
    rows.push(await withSeed({ seed: options.seed, name: scenario.name }, () => scenario(options)));
  }
  return rows;
}

const SEED = seedFromEnv(20_241_124);
const short: RunOptions = { seed: SEED, cases: 1000, log: () => {} };

Deno.test({
  name: "process faults: the supervisor names the port in use, and SIGTERM stops it at once",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "sigterm" }, () => sigtermWhileBlocked(short)).then(() => {}),
});

Deno.test({
  name: "process faults: the supervisor gives up after its start limit and exits 1 with the reason",
  ...INTEGRATION,
  fn: () => withSeed({ seed: SEED, name: "start limit" }, () => startLimit(short)).then(() => {}),
});

Deno.test({
  name: "process faults: every process logs an unhandled fault's stack, then serves on or exits 1",
  ...INTEGRATION,
  fn: () =>
    withSeed({ seed: SEED, name: "unhandled" }, () => unhandledFaults(short)).then(() => {}),
});
