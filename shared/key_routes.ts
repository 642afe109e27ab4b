/**
 * Route by key (DESIGN.md, "Cluster mode"): how a service declares in `ss_reg_api` that the gate
 * routes a command by a field of its data, or gathers it from every instance, and the shapes of
 * the key commands (`ss_msg_key_claim`, `ss_msg_key_notify`, `ss_msg_key_release`). The gate,
 * the service library and the documentation (PROTOCOL.md, section 4) share these rules.
 *
 * - `{by: "groupId"}`: the request goes to the instance (link) that claimed the value of
 *   `data.groupId` in the service's key space (its `type`); a value no instance claimed goes to
 *   any instance, like an unrouted request, so that the service answers it as for a key it does
 *   not know.
 * - `{gather: "groups"}`: the request goes to every instance; the answers' `data.groups` arrays
 *   are joined into one answer.
 *
 * @example
 * ```ts
 * import { routeError } from "./key_routes.ts";
 * routeError({ by: "groupId" }); // undefined: a good route
 * routeError({ by: 7 }); // "must be {by: field} or {gather: field} …"
 * ```
 * @module
 */

/** How the gate routes one command: by a key field, or gathered from every instance. */
export type CommandRoute = { by: string; gather?: undefined } | { gather: string; by?: undefined };

/** What a route's field name must match: a JavaScript-like identifier of 1 to 64 characters. */
export const ROUTE_FIELD_PATTERN: RegExp = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Longest routing key, in characters (UTF-16 code units). */
export const MAX_ROUTE_KEY_LENGTH = 256;

/** Most clientIds one claimed key may tell when it is lost. */
export const MAX_KEY_NOTIFY_TARGETS = 100_000;

/** Whether a value can be a routing key: a string of 1 to 256 characters. */
export function isRouteKey(value: unknown): value is string {
  return typeof value === "string" && value.length >= 1 && value.length <= MAX_ROUTE_KEY_LENGTH;
}

/**
 * Why a declared route is malformed (the end of a sentence, after "Route of <cmd> "), or
 * undefined for a good one.
 */
export function routeError(route: unknown): string | undefined {
  const shape = "must be {by: field} or {gather: field}, the field 1 to 64 letters, digits " +
    "or '_', not starting with a digit";
  if (typeof route !== "object" || route === null || Array.isArray(route)) return shape;
  const entries = Object.entries(route);
  if (entries.length !== 1) return shape;
  const [mode, field] = entries[0];
  if (mode !== "by" && mode !== "gather") return shape;
  if (typeof field !== "string" || !ROUTE_FIELD_PATTERN.test(field)) return shape;
  return undefined;
}

/** Whether two routes say the same. */
export function sameRoute(a: CommandRoute | undefined, b: CommandRoute | undefined): boolean {
  return a?.by === b?.by && a?.gather === b?.gather;
}

/** A route in words, for messages: `by field groupId`, `gathered by field groups`, `unrouted`. */
export function describeRoute(route: CommandRoute | undefined): string {
  if (!route) return "unrouted";
  return route.by !== undefined ? `by field ${route.by}` : `gathered by field ${route.gather}`;
}

/**
 * The push the gate sends when a claimed key is lost (its instance went away before releasing
 * it): `cmd` with `data` to `clientIds`.
 */
export interface KeyNotify {
  /** The push's command. */
  cmd: string;
  /** The push's data (`{}` when absent). */
  data?: unknown;
  /** Who to tell; `ss_msg_key_notify` adds and removes. */
  clientIds?: number[];
}

/** The data of `ss_msg_key_claim`. */
export interface KeyClaim {
  /** The key, in the calling service's key space (its `type`). */
  key: string;
  /** What to push, and to whom, when the key is lost. */
  notify?: KeyNotify;
}

/** The data of `ss_msg_key_notify`. */
export interface KeyNotifyChange {
  key: string;
  /** clientIds to tell from now on. */
  add?: number[];
  /** clientIds no longer to tell. */
  remove?: number[];
}
