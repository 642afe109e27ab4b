/**
 * The group service as N instances (route by key, shared/key_routes.ts): the routes it declares
 * and the keys it claims. Each group id is a key the instance holding the group claims at the
 * gate when it creates it, so that the gate (or the cluster) sends every request naming that
 * `groupId` to it; a duplicate id is refused by the claim wherever the other group lives. The
 * gate keeps the members' clientIds with the key, and when the instance goes away holding it the
 * gate pushes `sc_msg_group_dismiss` {groupId, byUserId: 0, byClientId: 0, reason} to them (the
 * instance cannot any more). `cs_msg_group_list` is gathered from every instance.
 *
 * Claims are awaited (a create answers only once its id is the instance's); member changes and
 * releases are sent without waiting, in order on the link, and a failure is logged.
 *
 * @example
 * ```ts ignore
 * const keys = new GroupKeys({ gate: serviceClient, log });
 * if (await keys.claim("room1")) registry.create({ caller, groupId: "room1" });
 * ```
 * @module
 */

import { type CommandRoute, GroupCmd, type KeyNotify } from "../../shared/mod.ts";
import type { GroupDismissPush } from "../../shared/group_messages.ts";
import { ResponseError, ServiceError } from "../../client/errors.ts";
import type { Logger } from "../log.ts";

/** Why the members of a group lost with its instance are told it ended. */
export const LOST_REASON = "The group's service instance stopped";

/** How the gate routes the group commands among instances. */
export const GROUP_ROUTES: ReadonlyMap<string, CommandRoute> = new Map<string, CommandRoute>([
  [GroupCmd.JOIN, { by: "groupId" }],
  [GroupCmd.LEAVE, { by: "groupId" }],
  [GroupCmd.SEND, { by: "groupId" }],
  [GroupCmd.MEMBERS, { by: "groupId" }],
  [GroupCmd.DISMISS, { by: "groupId" }],
  [GroupCmd.LIST, { gather: "groups" }],
]);

/** What the keys need of the gate: `ServiceClient` is one. */
export interface KeyGate {
  claimKey(key: string, notify?: KeyNotify): Promise<boolean>;
  notifyKey(change: { key: string; add?: number[]; remove?: number[] }): Promise<void>;
  releaseKey(key: string): Promise<boolean>;
}

/** The group ids this instance claims at the gate, and the members told when one is lost. */
export class GroupKeys {
  #gate: KeyGate;
  #log: Logger;

  constructor(options: { gate: KeyGate; log: Logger }) {
    this.#gate = options.gate;
    this.#log = options.log;
  }

  /**
   * Claims a group id for this instance; false when another instance holds it. Claiming an id
   * this instance holds again is OK and keeps its members. When the gate cannot claim now, throws
   * a `ServiceError` with its answer (e.g. `SERVER_OFF`).
   */
  async claim(groupId: string): Promise<boolean> {
    const data: GroupDismissPush = { groupId, byUserId: 0, byClientId: 0, reason: LOST_REASON };
    try {
      return await this.#gate.claimKey(groupId, { cmd: GroupCmd.DISMISSED, data });
    } catch (error) {
      // The gate could not claim now (a cluster's directory out of reach): say so, as it did.
      if (error instanceof ResponseError) throw new ServiceError(error.state, error.msg);
      throw error;
    }
  }

  /** A member joined (or created) a group: it is told if the group is lost. */
  joined(groupId: string, clientId: number): void {
    this.#send(
      "key notify failed",
      groupId,
      this.#gate.notifyKey({ key: groupId, add: [clientId] }),
    );
  }

  /** A member left a group that goes on. */
  left(groupId: string, clientId: number): void {
    this.#send(
      "key notify failed",
      groupId,
      this.#gate.notifyKey({ key: groupId, remove: [clientId] }),
    );
  }

  /** A group ended (dismissed, or its last member left): its id is free again. */
  ended(groupId: string): void {
    this.#send("key release failed", groupId, this.#gate.releaseKey(groupId));
  }

  #send(event: string, groupId: string, sent: Promise<unknown>): void {
    sent.catch((error) => this.#log.warn(event, { groupId, error }));
  }
}
