/**
 * Readable text for what went wrong: a response's `msg` when the service gave one, plain words
 * for the gate's own refusals (no service, busy, timeout, rate limit) and for a lost connection.
 *
 * @module
 */

import {
  ClientClosedError,
  ConnectionLostError,
  type GateClient,
  RequestTimeoutError,
  ResponseError,
} from "../../client/browser.ts";
import { GroupCmd, LoginCmd, State, stateName } from "../../shared/mod.ts";

/** A request the page made was refused; `message` is the text to show. */
export class ActionError extends Error {
  readonly state: number;
  constructor(state: number, message: string) {
    super(message);
    this.name = "ActionError";
    this.state = state;
  }
}

const LOGIN_CMDS: ReadonlySet<string> = new Set(Object.values(LoginCmd));
const GROUP_CMDS: ReadonlySet<string> = new Set(Object.values(GroupCmd));

function serviceOf(cmd: string): string {
  if (LOGIN_CMDS.has(cmd)) return "The login service";
  if (GROUP_CMDS.has(cmd)) return "The group service";
  return "The service";
}

/** Words for the states the gate answers itself; their `msg` names commands, not causes. */
function gateWords(state: number, cmd: string): string | undefined {
  switch (state) {
    case State.UNDEFINED_CMD:
      return `${serviceOf(cmd)} is not running: try again later.`;
    case State.SERVER_OFF:
      return `${serviceOf(cmd)} is not available right now: try again in a moment.`;
    case State.TIMEOUT:
      return "The server did not answer in time: try again.";
    case State.RATE_LIMITED:
      return "Too many requests at once: wait a moment and try again.";
  }
  return undefined;
}

/** Words for a state when the response carried no `msg`. */
function fallbackWords(state: number, cmd: string): string {
  switch (state) {
    case State.SERVER_BUSY:
      return `${serviceOf(cmd)} is busy: try again in a moment.`;
    case State.BAD_REQUEST:
      return "The request was not accepted: check the fields.";
    case State.NOT_LOGGED_IN:
      return "Log in first.";
    case State.FORBIDDEN:
      return "That is not allowed.";
  }
  return `The request failed (${stateName(state)}).`;
}

/** The text to show for a refused response. */
export function responseText(response: { cmd: string; state: number; msg?: string }): string {
  const gate = gateWords(response.state, response.cmd);
  if (gate) return gate;
  const msg = response.msg?.trim();
  return msg ? msg : fallbackWords(response.state, response.cmd);
}

/** The text to show for anything a request threw. */
export function describeError(error: unknown): string {
  if (error instanceof ActionError) return error.message;
  if (error instanceof ResponseError) {
    return responseText(error);
  }
  if (error instanceof RequestTimeoutError) {
    return "The server did not answer in time: try again.";
  }
  if (error instanceof ConnectionLostError) {
    return "The connection to the server was lost: try again once it is back.";
  }
  if (error instanceof ClientClosedError) return "The page is closed for this session: reload it.";
  if (error instanceof Error && error.message) return error.message;
  return String(error);
}

/** Sends a request; resolves with its data, or throws {@linkcode ActionError} with the text. */
export async function call<T>(client: GateClient, cmd: string, data: unknown = {}): Promise<T> {
  const response = await client.request<T>(cmd, data);
  if (response.state !== State.OK) {
    throw new ActionError(response.state, responseText(response));
  }
  return response.data;
}
