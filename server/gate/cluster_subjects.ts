/**
 * The NATS subjects and headers gates use between them (DESIGN.md, "Cluster mode"). Every subject
 * starts with `gatehouse.`; the NATS permissions of a deployment (README, "More than one
 * machine") give that whole tree to the gates alone.
 *
 * @module
 */

/** Subject prefix of everything Gatehouse sends over NATS. */
export const SUBJECT_PREFIX = "gatehouse";

/** A command name as one subject token: as is when it is a safe token, else hex. */
function commandToken(cmd: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(cmd)) return `c.${cmd}`;
  const hex = Array.from(new TextEncoder().encode(cmd), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  return `h.${hex}`;
}

/**
 * The subject on which one gate serves one command: the requester picks the gate (so that it
 * knows where each request is), the gate picks among its links.
 */
export function commandSubject(gate: number, cmd: string): string {
  return `${SUBJECT_PREFIX}.g.${gate}.${commandToken(cmd)}`;
}

/** The subject of one gate's control messages (push, bind, unbind, kick). */
export function controlSubject(gate: number): string {
  return `${SUBJECT_PREFIX}.g.${gate}.ctl`;
}

/**
 * The prefix of the reply subjects of one run of a gate (`<prefix>.<call id>`): the epoch keeps a
 * late answer to an earlier run from being taken for a new call.
 */
export function replyPrefix(gate: number, epoch: number): string {
  return `${SUBJECT_PREFIX}.r.${gate}.${epoch}`;
}

/** Where gates say which commands they serve (and that they are alive). */
export const ANNOUNCE_SUBJECT = `${SUBJECT_PREFIX}.announce`;

/** The kinds of client events between gates: a client left, a user was bound to a client. */
export const CLIENT_EVENT_KINDS = ["leave", "bind", "unbind"] as const;

/**
 * Where a gate says that one of its clients left, was bound or unbound
 * (`gatehouse.ev.<gate>.<kind>`).
 */
export function clientEventSubject(
  gate: number,
  kind: (typeof CLIENT_EVENT_KINDS)[number],
): string {
  return `${SUBJECT_PREFIX}.ev.${gate}.${kind}`;
}

/**
 * Where a gate says that it declared gate `gate` down for want of its heartbeat
 * (`gatehouse.ev.<gate>.down`, on the same stream): that gate reads it when it is back.
 */
export function declaredDownSubject(gate: number): string {
  return `${SUBJECT_PREFIX}.ev.${gate}.down`;
}

/**
 * Header on a serving gate's reply that it did not forward the request: `busy` (every link at
 * its limit) or `off` (no link serves it now). The requester tries another gate.
 */
export const REFUSED_HEADER = "Gatehouse-Refused";

/** Header carrying a service answer's state when it is not OK (absent means OK). */
export const STATE_HEADER = "Gatehouse-State";
