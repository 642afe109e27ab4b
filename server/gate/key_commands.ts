/**
 * The gate's key commands and the `routes` of `ss_reg_api` (route by key, shared/key_routes.ts;
 * PROTOCOL.md, section 4): each checks its `data` and answers with a sentence when it is wrong.
 *
 * - `ss_msg_key_claim` {key, notify?: {cmd, data?, clientIds?}} → {key, again}; `FAIL` when
 *   another instance holds the key.
 * - `ss_msg_key_notify` {key, add?, remove?} → {}; `FAIL` when the link does not hold the key.
 * - `ss_msg_key_release` {key} → {released}.
 *
 * @module
 */

import {
  CMD_PATTERN,
  type CommandRoute,
  GateCmd,
  isRouteKey,
  type KeyNotify,
  MAX_CMD_LENGTH,
  MAX_KEY_NOTIFY_TARGETS,
  MAX_ROUTE_KEY_LENGTH,
  routeError,
  State,
} from "../../shared/mod.ts";
import type { Router } from "./router.ts";
import type { Session } from "./session.ts";

type Answer = { state: number; msg?: string; data?: unknown };

/** The key commands of the gate. */
export const KEY_COMMANDS: ReadonlySet<string> = new Set([
  GateCmd.KEY_CLAIM,
  GateCmd.KEY_NOTIFY,
  GateCmd.KEY_RELEASE,
]);

function fieldError(msg: string): Answer {
  return { state: State.BAD_REQUEST, msg };
}

function isClientIds(value: unknown): value is number[] {
  return Array.isArray(value) && value.length <= MAX_KEY_NOTIFY_TARGETS &&
    value.every((id) => typeof id === "number" && Number.isSafeInteger(id) && id > 0);
}

const CLIENT_IDS_RULE = `an array of at most ${MAX_KEY_NOTIFY_TARGETS} positive integers`;

/**
 * Reads the `routes` of `ss_reg_api`: an object of command → route, each command among `apis`.
 * Returns the routes, or the sentence saying what is wrong.
 */
export function readRoutes(
  routes: unknown,
  apis: string[],
): Map<string, CommandRoute> | string | undefined {
  if (routes === undefined) return undefined;
  if (typeof routes !== "object" || routes === null || Array.isArray(routes)) {
    return "Field routes must be an object of command names to routes";
  }
  const read = new Map<string, CommandRoute>();
  for (const [cmd, route] of Object.entries(routes)) {
    if (!apis.includes(cmd)) {
      return `Route of ${cmd.slice(0, MAX_CMD_LENGTH)}: the command is not among apis`;
    }
    const error = routeError(route);
    if (error) return `Route of ${cmd} ${error}`;
    read.set(cmd, route as CommandRoute);
  }
  return read.size > 0 ? read : undefined;
}

function readNotify(value: unknown): KeyNotify | string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    return "Field notify must be an object {cmd, data?, clientIds?}";
  }
  const notify = value as Record<string, unknown>;
  const cmd = notify.cmd;
  if (typeof cmd !== "string" || cmd.length > MAX_CMD_LENGTH || !CMD_PATTERN.test(cmd)) {
    return "Field notify.cmd must be a command name";
  }
  if (notify.clientIds !== undefined && !isClientIds(notify.clientIds)) {
    return `Field notify.clientIds must be ${CLIENT_IDS_RULE}`;
  }
  return { cmd, data: notify.data ?? {}, clientIds: notify.clientIds as number[] | undefined };
}

/** Runs a key command for a service link. */
export async function keyCommand(
  router: Router,
  from: Session,
  cmd: string,
  data: Record<string, unknown>,
): Promise<Answer> {
  const key = data.key;
  if (!isRouteKey(key)) {
    return fieldError(`Field key must be a string of 1 to ${MAX_ROUTE_KEY_LENGTH} characters`);
  }
  switch (cmd) {
    case GateCmd.KEY_CLAIM: {
      const notify = readNotify(data.notify);
      if (typeof notify === "string") return fieldError(notify);
      const outcome = await router.claimKey(from, { key, notify });
      return outcome.ok
        ? { state: State.OK, data: { key, again: outcome.again } }
        : { state: outcome.state ?? State.FAIL, msg: outcome.msg };
    }
    case GateCmd.KEY_NOTIFY: {
      for (const field of ["add", "remove"] as const) {
        if (data[field] !== undefined && !isClientIds(data[field])) {
          return fieldError(`Field ${field} must be ${CLIENT_IDS_RULE}`);
        }
      }
      let held: boolean;
      try {
        held = await router.notifyKey(from, {
          key,
          add: data.add as number[] | undefined,
          remove: data.remove as number[] | undefined,
        });
      } catch (error) {
        if (error instanceof RangeError) return { state: State.FAIL, msg: error.message };
        throw error;
      }
      return held
        ? { state: State.OK, data: {} }
        : { state: State.FAIL, msg: `This link does not hold key ${key}` };
    }
    default: {
      const released = await router.releaseKey(from, key);
      return { state: State.OK, data: { released } };
    }
  }
}
