/**
 * The commands the gate serves itself (DESIGN.md, "The gate"): `cs_msg_heart` for anyone, and the
 * `ss_` commands for service links, each with its `data` validated.
 *
 * @module
 */

import {
  CMD_PATTERN,
  CREDENTIAL_PATTERN,
  GateCmd,
  isServiceCmd,
  makeResponse,
  MAX_CMD_LENGTH,
  type RequestEnvelope,
  type ResponseEnvelope,
  State,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { timingSafeEqualText } from "../service_key.ts";
import type { Session } from "./session.ts";
import type { GateMetrics } from "./metrics.ts";
import type { Router } from "./router.ts";
import { KEY_COMMANDS, keyCommand, readRoutes } from "./key_commands.ts";

/** The gate's own commands. */
export const GATE_COMMANDS: ReadonlySet<string> = new Set([
  GateCmd.HEART,
  GateCmd.REG_API,
  GateCmd.USER_LOGIN,
  GateCmd.USER_LOGOUT,
  GateCmd.PUSH,
  GateCmd.KICK,
  ...KEY_COMMANDS,
]);

/** Gate events a service may list in `apis`. */
export const GATE_EVENTS: ReadonlySet<string> = new Set([
  GateCmd.CLIENT_LEAVE,
  GateCmd.GATE_DOWN,
  GateCmd.USER_BIND,
  GateCmd.USER_UNBIND,
]);

/** Most clientIds in one `ss_msg_push`. */
export const MAX_PUSH_TARGETS = 100_000;

/** Most commands one link may register. */
export const MAX_APIS = 1000;

/** What the gate's commands need. */
export interface GateCommandContext {
  router: Router;
  metrics: GateMetrics;
  log: Logger;
  serviceKey: string;
  /** Remembers failed service-key attempts per remote host, for slowing them down. */
  keyFailures: Map<string, number>;
}

type Answer = { state: number; msg?: string; data?: unknown };

function fieldError(msg: string): Answer {
  return { state: State.BAD_REQUEST, msg };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isClientId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

function isUserId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** The username rule in words (shared/limits.ts `CREDENTIAL_PATTERN`). */
const USERNAME_RULE = "6 to 16 letters (a-z, A-Z) and digits (0-9)";

function isUsername(value: unknown): value is string {
  return typeof value === "string" && CREDENTIAL_PATTERN.test(value);
}

function shortString(value: unknown, max: number): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

function host(remote: string): string {
  const i = remote.lastIndexOf(":");
  return i < 0 ? remote : remote.slice(0, i);
}

/**
 * Runs a gate command. Resolves with the response to send; service-key failures are answered
 * late, slower the more a host has failed.
 */
export async function runGateCommand(
  context: GateCommandContext,
  from: Session,
  request: RequestEnvelope,
): Promise<ResponseEnvelope> {
  const answer = await gateCommand(context, from, request);
  return makeResponse(request, answer);
}

async function gateCommand(
  context: GateCommandContext,
  from: Session,
  request: RequestEnvelope,
): Promise<Answer> {
  const data = request.data;
  if (request.cmd === GateCmd.HEART) return { state: State.OK, data: { time: Date.now() } };
  if (!isObject(data)) return fieldError("Field data must be an object");
  if (request.cmd === GateCmd.REG_API) return await register(context, from, data);
  if (KEY_COMMANDS.has(request.cmd)) {
    return await keyCommand(context.router, from, request.cmd, data);
  }
  switch (request.cmd) {
    case GateCmd.USER_LOGIN: {
      if (!isClientId(data.clientId)) {
        return fieldError("Field clientId must be a positive integer");
      }
      if (!isUserId(data.userId) || data.userId === 0) {
        return fieldError("Field userId must be a positive integer");
      }
      if (data.token !== undefined && !shortString(data.token, 512)) {
        return fieldError("Field token must be a string of at most 512 characters");
      }
      if (data.username !== undefined && !isUsername(data.username)) {
        return fieldError(`Field username must be ${USERNAME_RULE}`);
      }
      const bound = await context.router.bindUser({
        clientId: data.clientId,
        userId: data.userId,
        token: data.token as string | undefined,
        username: data.username,
      });
      return bound
        ? { state: State.OK }
        : { state: State.FAIL, msg: `Client ${data.clientId} is not connected` };
    }
    case GateCmd.USER_LOGOUT: {
      if (!isClientId(data.clientId)) {
        return fieldError("Field clientId must be a positive integer");
      }
      if (!isUserId(data.userId)) return fieldError("Field userId must be a non-negative integer");
      const unbound = await context.router.unbindUser({
        clientId: data.clientId,
        userId: data.userId,
      });
      return unbound
        ? { state: State.OK }
        : { state: State.FAIL, msg: `Client ${data.clientId} is not bound to user ${data.userId}` };
    }
    case GateCmd.PUSH: {
      const ids = data.clientIds;
      if (!Array.isArray(ids) || ids.length > MAX_PUSH_TARGETS || !ids.every(isClientId)) {
        return fieldError(
          `Field clientIds must be an array of at most ${MAX_PUSH_TARGETS} positive integers`,
        );
      }
      if (!shortString(data.cmd, MAX_CMD_LENGTH) || !CMD_PATTERN.test(data.cmd)) {
        return fieldError("Field cmd must be a command name");
      }
      const text = JSON.stringify({
        cmd: data.cmd,
        is_push: true,
        time: Date.now(),
        data: data.data ?? {},
      });
      const reached = context.router.push(ids, text);
      return { state: State.OK, data: { reached } };
    }
    case GateCmd.KICK: {
      if (!isClientId(data.clientId)) {
        return fieldError("Field clientId must be a positive integer");
      }
      if (data.reason !== undefined && typeof data.reason !== "string") {
        return fieldError("Field reason must be a string");
      }
      const reason = ((data.reason as string | undefined) ?? "Kicked by a service").slice(0, 200);
      const kicked = await context.router.kick({ clientId: data.clientId, reason });
      return kicked
        ? { state: State.OK }
        : { state: State.FAIL, msg: `Client ${data.clientId} is not connected` };
    }
  }
  return { state: State.UNDEFINED_CMD, msg: `The gate has no command ${request.cmd}` };
}

async function register(
  context: GateCommandContext,
  from: Session,
  data: Record<string, unknown>,
): Promise<Answer> {
  if (!shortString(data.type, 64)) {
    return fieldError("Field type must be a string of 1 to 64 characters");
  }
  if (!shortString(data.name, 64)) {
    return fieldError("Field name must be a string of 1 to 64 characters");
  }
  if (typeof data.sskey !== "string" || data.sskey.length > 1024) {
    return fieldError("Field sskey must be a string");
  }
  const apis = data.apis;
  if (!Array.isArray(apis) || apis.length > MAX_APIS) {
    return fieldError(`Field apis must be an array of at most ${MAX_APIS} command names`);
  }
  const served: string[] = [];
  const events = new Set<string>();
  for (const api of apis) {
    if (!shortString(api, MAX_CMD_LENGTH) || !CMD_PATTERN.test(api)) {
      return fieldError("Field apis must hold only command names");
    }
    if (GATE_EVENTS.has(api)) events.add(api);
    else if (GATE_COMMANDS.has(api)) {
      return fieldError(`Command ${api} is served by the gate itself`);
    } else if (!served.includes(api)) served.push(api);
  }
  const routes = readRoutes(data.routes, served);
  if (typeof routes === "string") return fieldError(routes);
  const remoteHost = host(from.conn.remote);
  if (!timingSafeEqualText(data.sskey, context.serviceKey)) {
    const failures = (context.keyFailures.get(remoteHost) ?? 0) + 1;
    context.keyFailures.set(remoteHost, failures);
    context.metrics.inc("service_key_failures_total");
    context.log.warn("service key refused", {
      remote: from.conn.remote,
      name: data.name,
      failures,
    });
    // Slow repeated guesses down: 0, 0, 250 ms, 500 ms, … up to 5 s.
    const delay = Math.min(5000, failures <= 2 ? 0 : 250 * 2 ** (failures - 3));
    if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
    return { state: State.FORBIDDEN, msg: "The service key is wrong" };
  }
  context.keyFailures.delete(remoteHost);
  const again = from.service !== undefined;
  const service = { type: data.type, name: data.name, apis: served, events, routes };
  const conflict = context.router.routeConflict(from, service);
  if (conflict) return fieldError(conflict);
  from.service = service;
  context.router.addLink(from);
  context.log.info(again ? "service registered again" : "service registered", {
    clientId: from.id,
    type: data.type,
    name: data.name,
    apis: served.join(","),
    events: [...events].join(",") || undefined,
    routes: routes ? [...routes.keys()].join(",") : undefined,
  });
  return { state: State.OK, data: { clientId: from.id } };
}

/** Whether a connection may call `cmd`: `ss_` commands are for service links (and `ss_reg_api`). */
export function mayCall(from: Session, cmd: string): boolean {
  return !isServiceCmd(cmd) || from.service !== undefined || cmd === GateCmd.REG_API;
}
