/**
 * Starts the login service for integration tests, with the weak test hashing cost unless told
 * otherwise.
 *
 * @example
 * ```ts
 * const gate = await startGate();
 * const login = await startLogin(gate, { flags: ["--token-ttl-s", "1"] });
 * await login.stop();
 * ```
 * @module
 */

import type { GateClient, LoginResult } from "../../client/mod.ts";
import type { RunningProcess } from "./process.ts";
import { connectClient, startService, type StartServiceOptions } from "./suite.ts";

/** Options of {@linkcode startLogin}: `--hash-cost test` is added unless `flags` has one. */
export type StartLoginOptions = StartServiceOptions;

/** Starts a login service connected to a gate; resolves once it has registered. */
export function startLogin(
  gate: { wsUrl: string; dataDir: string },
  options: StartLoginOptions = {},
): Promise<RunningProcess> {
  const flags = options.flags ?? [];
  return startService("login", gate, {
    ...options,
    flags: [...(flags.includes("--hash-cost") ? [] : ["--hash-cost", "test"]), ...flags],
  });
}

/** The password the login tests give every account. */
export const TEST_PASSWORD = "secret123";

let serial = 0;

/** A fresh username of 6 to 16 letters and digits, starting with `prefix`. */
export function uniqueName(prefix: string): string {
  serial++;
  return `${prefix}${serial}${crypto.randomUUID().replace(/-/g, "")}`.slice(0, 16);
}

/** A connected client with a new account (password {@linkcode TEST_PASSWORD}), logged in. */
export async function loggedInClient(
  url: string,
  prefix: string,
): Promise<{ client: GateClient; username: string; userId: number; login: LoginResult }> {
  const client = await connectClient(url);
  const username = uniqueName(prefix);
  const { userId } = await client.register({ username, password: TEST_PASSWORD });
  const login = await client.login({ username, password: TEST_PASSWORD });
  return { client, username, userId, login };
}
