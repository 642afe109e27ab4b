/**
 * One line per notable event, with a level. Text (the default):
 * `<ISO time> <LEVEL> <process> <event> key=value…`; JSON (`--log-format json`): one object per
 * line, `{"time", "level", "process", "event", …fields}`. Debug and info lines go to stdout,
 * warnings and errors to stderr; lines under the minimum level (`--log-level`, default info) are
 * dropped.
 *
 * @example
 * ```ts
 * import { createLogger, parseLogFlags } from "./log.ts";
 * const { options, rest } = parseLogFlags(["--log-format", "json", "--port", "0"]);
 * const log = createLogger("gate", options);
 * log.info("listening", { http: "http://127.0.0.1:8080" });
 * // {"time":"2026-11-24T21:00:00.000Z","level":"info","process":"gate","event":"listening","http":"http://127.0.0.1:8080"}
 * console.log(rest); // ["--port", "0"]
 * ```
 * @module
 */

import { logOutput } from "./log_output.ts";

/** A level of importance. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** How a line is written. */
export type LogFormat = "text" | "json";

/** The levels, least important first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** The formats. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes log lines for one process. */
export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lines under this level are dropped; default `info`. */
  level?: LogLevel;
  /** Text or JSON lines; default `text`. */
  format?: LogFormat;
}

/** The last time formatted, reused within its millisecond (a busy process logs many lines in one). */
let lastMs = -1;
let lastTime = "";

function timeNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTime = new Date(ms).toISOString();
  }
  return lastTime;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? "") ? JSON.stringify(text) : String(text);
}

/** Formats one log line. */
export function formatLogLine(
  options: {
    level: LogLevel;
    name: string;
    event: string;
    fields?: Record<string, unknown>;
    format?: LogFormat;
  },
): string {
  const time = timeNow();
  if (options.format === "json") {
    const line: Record<string, unknown> = {
      time,
      level: options.level,
      process: options.name,
      event: options.event,
    };
    for (const [key, value] of Object.entries(options.fields ?? {})) {
      // The four names above stay what they are; a field with one of them is kept beside them.
      const name = key in line ? `field_${key}` : key;
      if (value !== undefined) line[name] = value instanceof Error ? value.message : value;
    }
    return JSON.stringify(line, (_key, value) => typeof value === "bigint" ? String(value) : value);
  }
  let line = `${time} ${options.level.toUpperCase()} ${options.name} ${options.event}`;
  const fields = options.fields ?? {};
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined && Object.hasOwn(fields, key)) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** The process's defaults, set once from its flags (see {@linkcode setLogDefaults}). */
let defaults: LoggerOptions = {};

/**
 * Sets the level and format of every logger created afterwards without options of its own: a
 * process calls it once, with what {@linkcode parseLogFlags} found in its flags.
 */
export function setLogDefaults(options: LoggerOptions): void {
  defaults = { ...options };
}

/**
 * A logger for process `name`: lines at `level` and above (a level alone is taken as
 * `{ level }`), debug and info on stdout, warnings and errors on stderr. What `options` leaves
 * out comes from {@linkcode setLogDefaults}, then info and text.
 */
export function createLogger(name: string, options: LogLevel | LoggerOptions = {}): Logger {
  const given = typeof options === "string" ? { level: options } : options;
  const { level: minLevel = "info", format = "text" } = { ...defaults, ...given };
  const write = (level: LogLevel) => (event: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const line = formatLogLine({ level, name, event, fields, format });
    logOutput.line(line, ORDER[level] >= ORDER.warn ? "error" : "info");
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

/**
 * Takes `--log-format text|json` and `--log-level debug|info|warn|error` (also written
 * `--flag=value`) out of a process's arguments; returns the logger options and the arguments
 * left for the process's own parser. Throws `TypeError` with a sentence for a bad value.
 */
export function parseLogFlags(args: string[]): { options: LoggerOptions; rest: string[] } {
  const options: LoggerOptions = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const match = /^--(log-format|log-level)(?:=(.*))?$/.exec(args[i]);
    if (!match) {
      rest.push(args[i]);
      continue;
    }
    const [, flag, inline] = match;
    const value = inline ?? args[++i];
    if (flag === "log-format") {
      if (!LOG_FORMATS.includes(value as LogFormat)) {
        throw new TypeError(`Flag --log-format must be one of ${LOG_FORMATS.join(", ")}`);
      }
      options.format = value as LogFormat;
    } else {
      if (!LOG_LEVELS.includes(value as LogLevel)) {
        throw new TypeError(`Flag --log-level must be one of ${LOG_LEVELS.join(", ")}`);
      }
      options.level = value as LogLevel;
    }
  }
  return { options, rest };
}
