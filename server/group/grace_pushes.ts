/**
 * What the group service tells members about the reconnect grace period (reconnect_grace.ts):
 * `sc_msg_group_away` when a member's connection dropped and it keeps its place, then either
 * `sc_msg_group_back` when its user is bound to a new connection in time, or the usual
 * `sc_msg_group_leave` (reason "disconnected") when the grace ends. A game lobby shows the player
 * as "reconnecting…" rather than gone, and keeps its seat and its host, as Colyseus rooms do with
 * `allowReconnection`. The shapes are declared in shared/group_messages.ts.
 *
 * @example
 * ```ts ignore
 * tellGraceOutcome(teller, grace.left({ clientId: 4, userId: 7 }));
 * ```
 * @module
 */

import { GroupCmd } from "../../shared/commands.ts";
import type { GroupAwayPush, GroupBackPush } from "../../shared/group_messages.ts";
import type { Logger } from "../log.ts";
import type { Departure } from "./group_registry.ts";
import type { GraceOutcome } from "./reconnect_grace.ts";

/** How the service tells: its pushes, its leave pushes, its log. */
export interface GraceTeller {
  /** The grace period, ms, told in `sc_msg_group_away`. */
  graceMs: number;
  /** Where notable events are written. */
  log: Logger;
  /** Tells the rest of a group that a member left (reason "disconnected"). */
  departed(departure: Departure): void;
  /** One push to members, without waiting. */
  tell(clientIds: number[], cmd: string, data: unknown): void;
  /** A member came back on a new connection (the key directory's notify list follows it). */
  moved?(move: { groupId: string; from: number; to: number }): void;
}

/** Sends the pushes and writes the log lines of what a leave or a bind did. */
export function tellGraceOutcome(teller: GraceTeller, outcome: GraceOutcome): void {
  for (const departure of outcome.departures) teller.departed(departure);
  for (const mark of outcome.away) {
    const { member } = mark;
    teller.log.info("group member away", {
      groupId: mark.groupId,
      userId: member.userId,
      clientId: member.clientId,
      graceMs: teller.graceMs,
    });
    const push: GroupAwayPush = {
      groupId: mark.groupId,
      userId: member.userId,
      clientId: member.clientId,
      graceMs: teller.graceMs,
      members: mark.members,
    };
    if (member.name !== undefined) push.name = member.name;
    teller.tell(mark.others, GroupCmd.AWAY, push);
  }
  for (const back of outcome.back) {
    const { member } = back;
    // The key directory hears of the new connection first, before anything else is said of it.
    teller.moved?.({ groupId: back.groupId, from: back.previousClientId, to: member.clientId });
    teller.log.info("group member back", {
      groupId: back.groupId,
      userId: member.userId,
      clientId: member.clientId,
      previousClientId: back.previousClientId,
      owner: back.owner.clientId === member.clientId,
    });
    const push: GroupBackPush = {
      groupId: back.groupId,
      userId: member.userId,
      clientId: member.clientId,
      previousClientId: back.previousClientId,
      owner: back.owner,
      members: back.members,
    };
    if (member.name !== undefined) push.name = member.name;
    teller.tell(back.others, GroupCmd.BACK, push);
  }
}
