/**
 * One line per notable event, with a level: `<ISO time> <LEVEL> <process> <event> key=value…`.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const log = createLogger("gate");
 * log.info("listening", { http: "http://127.0.0.1:8080" });
 * // 2026-11-24T21:00:00.000Z INFO gate listening http=http://127.0.0.1:8080
 * ```
 * @module
 */

/** A level of importance. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes log lines for one process. */
export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? "") ? JSON.stringify(text) : String(text);
}

/** Formats one log line. */
export function formatLogLine(
  options: { level: LogLevel; name: string; event: string; fields?: Record<string, unknown> },
): string {
  let line = `${
    new Date().toISOString()
  } ${options.level.toUpperCase()} ${options.name} ${options.event}`;
  for (const [key, value] of Object.entries(options.fields ?? {})) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/**
 * A logger that writes to standard output lines at `minLevel` and above.
 */
export function createLogger(name: string, minLevel: LogLevel = "info"): Logger {
  const write = (level: LogLevel) => (event: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    console.log(formatLogLine({ level, name, event, fields }));
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
