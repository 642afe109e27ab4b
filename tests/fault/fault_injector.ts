/**
 * A test program, never part of a deployment: runs one of our processes' real `main` (so with
 * the fault handlers that `main` installs and its declared policy) and, on a signal from the
 * test, causes a fault nobody handles: SIGUSR2 an unhandled promise rejection, SIGWINCH an
 * exception thrown out of a timer callback (not SIGUSR1: Deno opens its inspector on it). Nothing
 * here can be reached from the network.
 *
 * Usage: `deno run --allow-all tests/fault/fault_injector.ts` with `GATEHOUSE_TEST_PROCESS` set to
 * gate, login, group, license, echo or supervisor, and that process's flags as arguments.
 *
 * @module
 */

/** The processes this program can run. */
export const INJECTABLE = ["gate", "login", "group", "license", "echo", "supervisor"] as const;

/** The signal that injects each fault. */
export const INJECT_SIGNAL = { rejection: "SIGUSR2", exception: "SIGWINCH" } as const;

/** What the injected faults' messages start with. */
export const INJECTED = {
  rejection: "Injected rejection (test)",
  exception: "Injected exception (test)",
} as const;

async function runMain(name: string, args: string[]): Promise<number> {
  switch (name) {
    case "gate":
      return (await import("../../server/gate/main.ts")).main(args);
    case "login":
      return (await import("../../server/login/main.ts")).main(args);
    case "group":
      return (await import("../../server/group/main.ts")).main(args);
    case "echo":
      return (await import("../../server/echo/main.ts")).main(args);
    case "supervisor":
      return (await import("../../server/supervisor/main.ts")).main(args);
    case "license":
      // Its main reads Deno.args itself, returns once listening, and exits on its own.
      await (await import("../../server/license/main.ts")).main();
      return await new Promise<number>(() => {});
    default:
      throw new TypeError(`GATEHOUSE_TEST_PROCESS must be one of ${INJECTABLE.join(", ")}`);
  }
}

if (import.meta.main) {
  Deno.addSignalListener(INJECT_SIGNAL.rejection, () => {
    // Nobody awaits or catches this promise.
    Promise.reject(new Error(INJECTED.rejection));
  });
  Deno.addSignalListener(INJECT_SIGNAL.exception, () => {
    setTimeout(() => {
      throw new Error(INJECTED.exception);
    }, 0);
  });
  Deno.exit(await runMain(Deno.env.get("GATEHOUSE_TEST_PROCESS") ?? "", Deno.args));
}
