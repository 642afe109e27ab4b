/**
 * Checks of the group commands' `data` and of who sends them: each bad field is a `BAD_REQUEST`
 * {@linkcode FieldError} whose message is one sentence naming the field, and a sender that is
 * neither a logged-in user nor a service link is `NOT_LOGGED_IN`.
 *
 * @example
 * ```ts ignore
 * const data = objectData(request.data);
 * const caller = callerOf(request, data); // with its name, for create and join
 * const groupId = groupIdField(data); // throws FieldError unless 1–64 [A-Za-z0-9_-]
 * ```
 * @module
 */

import { ServiceError, type ServiceRequest } from "../../client/mod.ts";
import { State } from "../../shared/mod.ts";
import { DISPLAY_NAME_RULE, isDisplayName } from "../../shared/group_messages.ts";
import { isGroupId, isGroupKey, MAX_KEY_LENGTH } from "./group_ids.ts";
import type { Caller } from "./group_outcomes.ts";

/** A field failed its check: answered `BAD_REQUEST` with the message. */
export class FieldError extends ServiceError {
  /** A `BAD_REQUEST` with `msg`, one sentence naming the field. */
  constructor(msg: string) {
    super(State.BAD_REQUEST, msg);
    this.name = "FieldError";
  }
}

const GROUP_ID_RULE = `1 to 64 letters, digits, '_' or '-'`;

/** The request's `data` as an object; throws {@linkcode FieldError} when it is not one. */
export function objectData(data: unknown): Record<string, unknown> {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new FieldError("Field data must be an object");
  }
  return data as Record<string, unknown>;
}

/** The `groupId` field; throws {@linkcode FieldError} when it is missing or not a group id. */
export function groupIdField(data: Record<string, unknown>): string {
  const value = data.groupId;
  if (value === undefined || value === null) throw new FieldError("Field groupId is missing");
  if (!isGroupId(value)) throw new FieldError(`Field groupId must be ${GROUP_ID_RULE}`);
  return value;
}

/** The `key` field; throws {@linkcode FieldError} when it is missing or not a group key. */
export function keyField(data: Record<string, unknown>): string {
  const value = data.key;
  if (value === undefined || value === null) throw new FieldError("Field key is missing");
  if (!isGroupKey(value)) {
    throw new FieldError(`Field key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
  return value;
}

/**
 * The name a member is shown by: a user's stamped username (`userName`), or the optional `name`
 * a service link gives in create and join. A user that gives `name` is refused: it cannot choose
 * how it appears to others.
 */
export function memberName(
  request: ServiceRequest,
  data: Record<string, unknown>,
): string | undefined {
  const value = data.name;
  const given = value !== undefined && value !== null;
  if (!request.isServiceLink) {
    if (given) {
      throw new FieldError(
        "Field name is for service links only: a user is shown by the username it logged in with",
      );
    }
    return isDisplayName(request.userName) ? request.userName : undefined;
  }
  if (!given) return undefined;
  if (!isDisplayName(value)) throw new FieldError(`Field name must be ${DISPLAY_NAME_RULE}`);
  return value;
}

/**
 * The sender, when it is a logged-in user or a service link; `NOT_LOGGED_IN` otherwise. With
 * `data` (create and join), its name too (see {@linkcode memberName}).
 */
export function callerOf(request: ServiceRequest, data?: Record<string, unknown>): Caller {
  if (!request.isServiceLink && !(request.userId > 0)) {
    throw new ServiceError(State.NOT_LOGGED_IN, "Log in first to use groups");
  }
  const caller: Caller = {
    clientId: request.clientId,
    userId: request.isServiceLink ? 0 : request.userId,
  };
  const name = data ? memberName(request, data) : undefined;
  if (name !== undefined) caller.name = name;
  return caller;
}
