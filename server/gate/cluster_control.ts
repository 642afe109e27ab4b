/**
 * Control messages between gates (on `gatehouse.g.<gate>.ctl`): a push to this gate's clients,
 * and a user binding, unbinding or kick of one of them, run with the same functions as a single
 * gate's (local_router.ts).
 *
 * @module
 */

import {
  bindLocal,
  kickLocal,
  type LocalSessions,
  pushLocal,
  unbindLocal,
} from "./local_router.ts";

/** A control message. */
export type ControlMessage =
  | { op: "push"; clientIds: number[]; text: string }
  | { op: "bind"; clientId: number; userId: number; token?: string; username?: string }
  | { op: "unbind"; clientId: number; userId: number }
  | { op: "kick"; clientId: number; reason: string };

/**
 * Runs a control message from another gate on this gate's sessions; returns whether it took
 * effect (a push: undefined, it is not answered).
 */
export function runControl(local: LocalSessions, message: ControlMessage): boolean | undefined {
  switch (message?.op) {
    case "push":
      if (Array.isArray(message.clientIds) && typeof message.text === "string") {
        pushLocal(local, message.clientIds, message.text);
      }
      return undefined;
    case "bind":
      if (message.username !== undefined && typeof message.username !== "string") return false;
      return bindLocal(local, message);
    case "unbind":
      return unbindLocal(local, message);
    case "kick":
      return kickLocal(local, message);
  }
  return false;
}
