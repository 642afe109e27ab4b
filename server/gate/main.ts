/**
 * `deno task gate:only`: starts the gate with the flags of DESIGN.md.
 *
 * @module
 */

import { createLogger } from "../log.ts";
import { Gate } from "./gate.ts";
import { FlagError, GATE_HELP, parseGateArgs } from "./options.ts";

/** Runs the gate until SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<number> {
  const log = createLogger("gate");
  let parsed;
  try {
    parsed = parseGateArgs(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${GATE_HELP}`);
    return error instanceof FlagError || error instanceof TypeError ? 2 : 1;
  }
  if (parsed.help) {
    console.log(GATE_HELP);
    return 0;
  }
  const gate = new Gate(parsed.options, log);
  log.info("starting", { pid: Deno.pid });
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
