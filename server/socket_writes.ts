/**
 * Writing to a socket: every byte of a buffer, and the queued buffers of one turn joined into one
 * write (bench/FINDINGS.md, finding 2). Used by the gate's HTTP port and WebSocket connections,
 * the framed link of the gate and the license server, and `license:status`.
 *
 * @example
 * ```ts ignore
 * import { joinChunks, writeAll } from "./socket_writes.ts";
 * await writeAll(conn, joinChunks([head, body], head.length + body.length));
 * ```
 * @module
 */

/** Writes every byte of `bytes` to `conn` (a write may take only part of them). */
export async function writeAll(
  conn: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * The buffers of `parts` in order as one buffer of `totalBytes` (their summed length); a single
 * part is handed back as it is, without a copy.
 */
export function joinChunks(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const joined = new Uint8Array(totalBytes);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
