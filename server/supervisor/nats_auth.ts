/**
 * The NATS that `deno task cluster` starts runs with JetStream and authentication: a
 * configuration file and the gates' credentials are generated in the data dir (mode 0600) once,
 * and reused by later starts. An open NATS would let anyone who reaches it forge user bindings
 * (README, "More than one machine").
 *
 * @module
 */

/** What {@linkcode prepareNatsAuth} wrote. */
export interface NatsAuthFiles {
  /** The nats-server configuration (`nats-server -c`). */
  configPath: string;
  /** The gates' credentials (`--cluster-creds`). */
  credsPath: string;
}

/** The NATS user the gates connect as. */
export const GATE_NATS_USER = "gatehouse-gate";

/** A random password of 32 bytes, base64url. */
function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
}

/** Writes a file readable by its owner alone. */
async function writePrivate(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/**
 * Writes (or reuses) `<dir>/nats-gate.json` with the gates' credentials, and writes
 * `<dir>/nats.conf` for a nats-server on `host:port` with JetStream in `<dir>/nats/` and only
 * that user allowed.
 */
export async function prepareNatsAuth(
  options: { dir: string; host: string; port: number },
): Promise<NatsAuthFiles> {
  const credsPath = `${options.dir}/nats-gate.json`;
  let password: string | undefined;
  try {
    const existing = JSON.parse(await Deno.readTextFile(credsPath));
    if (existing.user === GATE_NATS_USER && typeof existing.password === "string") {
      password = existing.password;
    }
  } catch { /* first start */ }
  if (!password) {
    password = randomPassword();
    await writePrivate(credsPath, JSON.stringify({ user: GATE_NATS_USER, password }) + "\n");
  }
  const configPath = `${options.dir}/nats.conf`;
  await writePrivate(
    configPath,
    [
      `listen: ${JSON.stringify(`${options.host}:${options.port}`)}`,
      `jetstream { store_dir: ${JSON.stringify(`${options.dir}/nats`)} }`,
      "authorization {",
      `  users: [ { user: ${JSON.stringify(GATE_NATS_USER)}, password: ${
        JSON.stringify(password)
      } } ]`,
      "}",
      "",
    ].join("\n"),
  );
  return { configPath, credsPath };
}
