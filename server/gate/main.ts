/**
 * `deno task gate:only`: starts the gate with the flags of DESIGN.md.
 *
 * @module
 */

import { createLogger, parseLogFlags, setLogDefaults } from "../log.ts";
import { VERSION } from "../version.ts";
import { type FaultPolicy, installFaultHandlers } from "../process_faults.ts";
import { Gate } from "./gate.ts";
import { FlagError, GATE_HELP, parseGateArgs } from "./options.ts";
import { printFlagError } from "../flag_error.ts";

/**
 * The gate's faults (server/process_faults.ts). A rejection nobody handled is contained: the
 * gate's asynchronous work is per connection (one socket's upgrade, reads and writes, one
 * forwarded request's wait), while its shared tables (routes, connections, pending requests)
 * change only in synchronous steps; such a rejection leaves at most that one connection in
 * doubt, which its idle timeout closes, and exiting would drop every user for one client's fault
 * (issue 14: a rejection inside the runtime's WebSocket extension did). An exception thrown out of
 * a callback exits: it may have stopped halfway through changing those tables (a link half
 * registered, a request nobody will answer), and the supervisor restarts the gate in 0.5 s; clients
 * reconnect by themselves.
 */
const FAULT_POLICY: FaultPolicy = { rejection: "continue", exception: "exit" };

/** Runs the gate until SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    const logFlags = parseLogFlags(args);
    setLogDefaults(logFlags.options);
    parsed = parseGateArgs(logFlags.rest);
  } catch (error) {
    printFlagError((error as Error).message);
    return error instanceof FlagError || error instanceof TypeError ? 2 : 1;
  }
  if (parsed.help) {
    console.log(GATE_HELP);
    return 0;
  }
  if (parsed.version) {
    console.log(`gatehouse ${VERSION}`);
    return 0;
  }
  const log = createLogger("gate");
  installFaultHandlers({ log, policy: FAULT_POLICY });
  const gate = new Gate(parsed.options, log);
  log.info("starting", { pid: Deno.pid, version: VERSION });
  try {
    await gate.start();
  } catch (error) {
    log.error("start failed", { error });
    return 1;
  }
  const stopped = new Promise<void>((resolve) => {
    const stop = () => gate.stop().then(resolve);
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await stopped;
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
