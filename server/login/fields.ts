/**
 * Checks of the login commands' `data`: each failure is a `BAD_REQUEST` {@linkcode FieldError}
 * whose message is one sentence naming the field.
 *
 * @example
 * ```ts
 * const data = objectData(request.data);
 * const username = credentialField(data, "username"); // throws FieldError unless 6–16 [0-9a-zA-Z]
 * ```
 * @module
 */

import { ServiceError } from "../../client/mod.ts";
import { CREDENTIAL_PATTERN, State } from "../../shared/mod.ts";
import { TOKEN_PATTERN } from "./tokens.ts";

/** A field failed its check: answered `BAD_REQUEST` with the message. */
export class FieldError extends ServiceError {
  constructor(msg: string) {
    super(State.BAD_REQUEST, msg);
    this.name = "FieldError";
  }
}

/** The request's `data` as an object; throws when it is not one. */
export function objectData(data: unknown): Record<string, unknown> {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new FieldError("Field data must be an object");
  }
  return data as Record<string, unknown>;
}

function stringField(data: Record<string, unknown>, field: string): string {
  const value = data[field];
  if (value === undefined) throw new FieldError(`Field ${field} is missing`);
  if (typeof value !== "string") throw new FieldError(`Field ${field} must be a string`);
  return value;
}

/**
 * A username or password: 6 to 16 ASCII letters and digits (`CREDENTIAL_PATTERN`).
 */
export function credentialField(
  data: Record<string, unknown>,
  field: "username" | "password" | "newPassword",
): string {
  const value = stringField(data, field);
  if (!CREDENTIAL_PATTERN.test(value)) {
    throw new FieldError(`Field ${field} must be 6 to 16 letters (a-z, A-Z) and digits (0-9)`);
  }
  return value;
}

/** A token as login answers it: 43 characters of base64url. */
export function tokenField(data: Record<string, unknown>): string {
  const value = stringField(data, "token");
  if (!TOKEN_PATTERN.test(value)) {
    throw new FieldError("Field token must be the 43-character token a login answered");
  }
  return value;
}
