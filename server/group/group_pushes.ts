/**
 * How the group service tells members what happens to their groups: one push per event to the
 * members to tell, with all their clientIds, without waiting (a failure is logged), and a
 * member's departure told to the rest of its group (`sc_msg_group_leave`) with its log lines.
 * The shapes are declared in shared/group_messages.ts.
 *
 * @example
 * ```ts ignore
 * const pushes = new GroupPushes({ gate: serviceClient, log, registry, keys });
 * pushes.departed(registry.leave({ caller, groupId }), "left");
 * ```
 * @module
 */

import { GroupCmd } from "../../shared/mod.ts";
import type { GroupLeavePush, GroupLeaveReason } from "../../shared/group_messages.ts";
import type { Logger } from "../log.ts";
import type { GraceTeller } from "./grace_pushes.ts";
import type { GroupKeys } from "./group_keys.ts";
import type { Departure, GroupRegistry } from "./group_registry.ts";

/** What the service needs of the gate: pushes. `ServiceClient` is one. */
export interface GroupGate {
  /** Pushes `cmd` with `data` to clients; resolves with how many the gate reached. */
  push(clientIds: number[], cmd: string, data: unknown): Promise<number>;
}

/** Options of {@linkcode GroupPushes}. */
export interface GroupPushesOptions {
  /** Where pushes go. */
  gate: GroupGate;
  /** Where notable events are written. */
  log: Logger;
  /** The groups, for the count in the log lines. */
  registry: GroupRegistry;
  /** The key directory told of departures (N instances, group_keys.ts); none by default. */
  keys?: GroupKeys;
}

/** `fields` without the ones that are undefined, so that an absent name stays absent. */
export function defined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as T;
}

/** Tells members what happens to their groups. */
export class GroupPushes {
  #gate: GroupGate;
  #log: Logger;
  #registry: GroupRegistry;
  #keys?: GroupKeys;

  /** Pushes through `gate`, logging to `log`. */
  constructor(options: GroupPushesOptions) {
    this.#gate = options.gate;
    this.#log = options.log;
    this.#registry = options.registry;
    this.#keys = options.keys;
  }

  /**
   * A member left its group (`reason`): logs it, tells the key directory, and pushes
   * `sc_msg_group_leave` to the remaining members; logs the end of a group left empty.
   */
  departed(departure: Departure, reason: GroupLeaveReason): void {
    const { groupId, member } = departure;
    this.#log.info("group left", {
      groupId,
      userId: member.userId,
      clientId: member.clientId,
      reason,
      members: departure.members,
    });
    if (departure.ended) {
      this.#log.info("group ended", { groupId, reason: "no members", groups: this.#registry.size });
      this.#keys?.ended(groupId);
      return;
    }
    this.#keys?.left(groupId, member.clientId);
    if (departure.ownerChanged) {
      this.#log.info("group owner changed", {
        groupId,
        userId: departure.owner!.userId,
        clientId: departure.owner!.clientId,
      });
    }
    const push: GroupLeavePush = defined({
      groupId,
      userId: member.userId,
      clientId: member.clientId,
      name: member.name,
      reason,
      owner: departure.owner,
      members: departure.members,
    });
    this.tell(departure.remaining, GroupCmd.LEFT, push);
  }

  /** How grace_pushes.ts tells, with a grace period of `graceMs`. */
  graceTeller(graceMs: number): GraceTeller {
    return {
      graceMs,
      log: this.#log,
      departed: (departure: Departure) => this.departed(departure, "disconnected"),
      tell: (clientIds: number[], cmd: string, data: unknown) => this.tell(clientIds, cmd, data),
      moved: ({ groupId, from, to }) => {
        this.#keys?.left(groupId, from);
        this.#keys?.joined(groupId, to);
      },
    };
  }

  /** One push to many members, without waiting; a failure is logged. */
  tell(clientIds: number[], cmd: string, data: unknown): void {
    if (clientIds.length === 0) return;
    this.#gate.push(clientIds, cmd, data).catch((error) => {
      this.#log.warn("group push failed", {
        groupId: (data as { groupId: string }).groupId,
        cmd,
        error,
      });
    });
  }
}
