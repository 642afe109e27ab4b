/**
 * The service key that service links present in `ss_reg_api` (DESIGN.md, "Processes, flags and
 * defaults"): `GATEHOUSE_SSKEY` when set, otherwise `<data-dir>/sskey`, created by the gate with
 * mode 0600 on first start.
 *
 * @module
 */

/** Environment variable that overrides the key file. */
export const SSKEY_ENV = "GATEHOUSE_SSKEY";

/** Where a data dir keeps its key. */
export function serviceKeyPath(dataDir: string): string {
  return `${dataDir.replace(/\/$/, "")}/sskey`;
}

/** Where a key came from. */
export interface ServiceKey {
  key: string;
  /** `env`, or the path of the key file. */
  source: string;
  /** Whether this call created the file. */
  created: boolean;
}

function envKey(): string | undefined {
  try {
    const key = Deno.env.get(SSKEY_ENV);
    return key ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The gate's side: the key from the environment, or from the key file, which is created with
 * 32 random bytes (hex) and mode 0600 when missing.
 */
export async function loadOrCreateServiceKey(dataDir: string): Promise<ServiceKey> {
  const fromEnv = envKey();
  if (fromEnv) return { key: fromEnv, source: "env", created: false };
  const path = serviceKeyPath(dataDir);
  await Deno.mkdir(dataDir, { recursive: true });
  try {
    const key = (await Deno.readTextFile(path)).trim();
    if (key) return { key, source: path, created: false };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const key = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  // Write a whole file under a temporary name, then link it into place: a gate starting at the
  // same moment either wins the link or reads the winner's complete key.
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, key + "\n", { mode: 0o600, createNew: true });
  await Deno.chmod(tmp, 0o600);
  try {
    await Deno.link(tmp, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    await Deno.remove(tmp);
    return { key: (await Deno.readTextFile(path)).trim(), source: path, created: false };
  }
  await Deno.remove(tmp);
  return { key, source: path, created: true };
}

/**
 * The service's side: the key from the environment, or read from the key file the gate made.
 * Throws an error naming the file when neither is there.
 */
export async function readServiceKey(dataDir: string): Promise<string> {
  const fromEnv = envKey();
  if (fromEnv) return fromEnv;
  const path = serviceKeyPath(dataDir);
  try {
    const key = (await Deno.readTextFile(path)).trim();
    if (key) return key;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new Error(
    `No service key: set ${SSKEY_ENV} or start the gate with the same --data-dir to create ${path}`,
  );
}

/**
 * Compares two secrets in time that does not depend on where they differ.
 *
 * @example
 * ```ts
 * timingSafeEqualText("abc", "abd"); // false
 * ```
 */
export function timingSafeEqualText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
