/**
 * Cluster-wide clientIds: a clientId carries its gate's number in its high bits, so that any
 * gate can tell where a client is connected. Single node uses gate number 0, so its clientIds are
 * plain 1, 2, 3, ….
 *
 * @example
 * ```ts
 * const gate = gateNumber("gate-a");
 * const id = gate * CLIENTS_PER_GATE + 7;
 * gateOfClient(id) === gate; // true
 * ```
 * @module
 */

/** How many clientIds each gate has: 2^32. */
export const CLIENTS_PER_GATE = 2 ** 32;

/** Gate numbers run from 1 to this (2^21 − 1), keeping every clientId a safe integer. */
export const MAX_GATE_NUMBER = 2 ** 21 - 1;

/**
 * The number of a gate id: the id itself when it is a number in range, otherwise its FNV-1a
 * hash folded into range.
 */
export function gateNumber(gateId: string): number {
  const n = Number(gateId);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_GATE_NUMBER) return n;
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(gateId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash % MAX_GATE_NUMBER) + 1;
}

/** The gate number a clientId belongs to (0 for single node). */
export function gateOfClient(clientId: number): number {
  return Math.floor(clientId / CLIENTS_PER_GATE);
}
