/**
 * Which of the suite's children a supervisor runs on this machine (`--services`, the config
 * file's `services`): the gate, the login and group services, the license server; all four by
 * default. A machine that runs login or group without the gate names the gate they link to
 * (`--gate`), on another machine.
 *
 * @example
 * ```ts
 * import { parseServices } from "./services.ts";
 *
 * parseServices("login,group", "Flag --services"); // ["login", "group"]
 * ```
 * @module
 */

/** The children a supervisor can run, in the order it starts them. */
export const SERVICE_NAMES = ["gate", "login", "group", "license"] as const;

/** One of {@linkcode SERVICE_NAMES}. */
export type ServiceName = typeof SERVICE_NAMES[number];

/** The services that link to a gate (the others listen on their own). */
export const GATE_LINKED: readonly ServiceName[] = ["login", "group"];

/**
 * The names in `value` (comma-separated, or already a list), checked, without repeats, in
 * {@linkcode SERVICE_NAMES}' order. Throws a `TypeError` naming `where` and the valid names for
 * an unknown name or an empty list.
 */
export function parseServices(value: string | readonly string[], where: string): ServiceName[] {
  const names = (typeof value === "string" ? value.split(",") : value).map((name) =>
    typeof name === "string" ? name.trim() : name
  );
  const valid = SERVICE_NAMES.join(", ");
  if (names.length === 0 || names.every((name) => name === "")) {
    throw new TypeError(`${where} must name at least one of ${valid}`);
  }
  for (const name of names) {
    if (!SERVICE_NAMES.includes(name as ServiceName)) {
      throw new TypeError(
        `${where} names ${
          JSON.stringify(name)
        }, which is not a service: the valid ones are ${valid}`,
      );
    }
  }
  return SERVICE_NAMES.filter((name) => names.includes(name));
}

/**
 * The URL of a gate on another machine for the services to link to: `tcp://` or `tls://` with a
 * host and a port, or `ws://` or `wss://`. Throws a `TypeError` naming `where` for anything else.
 */
export function checkGateUrl(value: string, where: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch { /* below */ }
  // ws:// and wss:// have default ports (which URL leaves out); tcp:// and tls:// need one.
  const port = url?.port || /^wss?:$/.test(url?.protocol ?? "");
  if (!url || !/^(tcp|tls|ws|wss):$/.test(url.protocol) || !url.hostname || !port) {
    throw new TypeError(
      `${where} must be a gate's URL like tcp://10.0.0.5:8081 (or tls://, ws://…/ws, wss://…/ws), not ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

/**
 * Checks that `services` and `gate` fit together: services that link to a gate need the gate
 * here or `gate` (not both). Throws a `TypeError` with a sentence otherwise.
 */
export function checkServicePlan(services: readonly ServiceName[], gate?: string): void {
  const linked = services.filter((name) => GATE_LINKED.includes(name));
  if (services.includes("gate") && gate !== undefined) {
    throw new TypeError(
      "Flag --gate (config key gate) names a gate on another machine: it is for a supervisor " +
        "whose --services leave the gate out (its services link to the gate it runs)",
    );
  }
  if (!services.includes("gate") && linked.length > 0 && gate === undefined) {
    throw new TypeError(
      `Services ${linked.join(" and ")} need a gate: add gate to --services, or give --gate ` +
        "with the URL of a gate on another machine (e.g. tcp://10.0.0.5:8081)",
    );
  }
}
