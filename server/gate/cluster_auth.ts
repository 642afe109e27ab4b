/**
 * The gate's NATS credentials (`--cluster-creds FILE`): an open NATS lets anyone forge user
 * bindings, pushes and answers, so a deployment gives the `gatehouse.` subjects to the gates
 * alone (README, "More than one machine"). The file holds either a NATS `.creds` file (a user
 * JWT and its nkey seed) or JSON: `{"user": "…", "password": "…"}` or `{"token": "…"}`. A file
 * others can read is used, with a warning.
 *
 * @module
 */

import {
  type Authenticator,
  credsAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";
import type { Logger } from "../log.ts";

/** How the gate proves itself to NATS (`--cluster-creds`). */
export type ClusterAuth =
  | { user: string; pass: string }
  | { token: string }
  | { creds: string };

/** The NATS authenticator of `--cluster-creds` (none for an open NATS). */
export function authenticator(auth: ClusterAuth | undefined): Authenticator | undefined {
  if (!auth) return undefined;
  if ("creds" in auth) return credsAuthenticator(new TextEncoder().encode(auth.creds));
  if ("token" in auth) return tokenAuthenticator(auth.token);
  return usernamePasswordAuthenticator(auth.user, auth.pass);
}

/** Reads `--cluster-creds`; throws a sentence naming what is wrong. */
export async function readClusterCreds(path: string, log: Logger): Promise<ClusterAuth> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read the cluster credentials ${path}: ${(error as Error).message}`);
  }
  try {
    const mode = (await Deno.stat(path)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      log.warn("cluster credentials readable by others", {
        path,
        mode: (mode & 0o777).toString(8),
      });
    }
  } catch { /* no mode on this platform */ }
  if (text.includes("BEGIN NATS USER JWT")) return { creds: text };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(
      `The cluster credentials ${path} are neither a NATS .creds file nor JSON`,
    );
  }
  const value = json as Record<string, unknown>;
  if (typeof value?.token === "string" && value.token.length > 0) return { token: value.token };
  if (
    typeof value?.user === "string" && value.user.length > 0 &&
    typeof value.password === "string" && value.password.length > 0
  ) {
    return { user: value.user, pass: value.password };
  }
  throw new Error(
    `The cluster credentials ${path} must hold {"user", "password"} or {"token"}`,
  );
}
