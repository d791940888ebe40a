/**
 * The leveled logger: one JSON object per line on stderr, with `time`,
 * `level`, `msg` and the event's fields (`request_id`, `session_id`,
 * `trace_id`, ...). Secrets and user text never reach the line: fields
 * named like a token, ticket or query are replaced by `[redacted]`.
 * @module
 */

/** Every level, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The fields of one line; ids use the names of the log format. */
export type LogFields = Record<string, unknown> & {
  request_id?: string;
  session_id?: string;
  trace_id?: string;
};

/** Writes log lines at or above a level. */
export interface Logger {
  /** Detail for finding a problem: connections, frames, resumes, store switches. */
  debug(msg: string, fields?: LogFields): void;
  /** Routine events: start-up, one access line per answer. */
  info(msg: string, fields?: LogFields): void;
  /** Something went wrong but the service carries on (a refused client, a retry). */
  warn(msg: string, fields?: LogFields): void;
  /** Failures; `fields` may carry the error detail kept out of client frames. */
  error(msg: string, fields?: LogFields): void;
  /** True when lines of `level` are written (to skip building costly fields). */
  enabled(level: Exclude<LogLevel, "silent">): boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Where lines go; default: stderr. */
  write?: (line: string) => void;
}

/** Field names never written as they are. */
const REDACTED = /^(token|ticket|query|authorization|password|secret|api_key)$/i;

function replacer(key: string, value: unknown): unknown {
  if (key !== "" && REDACTED.test(key)) return "[redacted]";
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}

/** Creates a logger that drops entries below `level`. */
export function createLogger(level: LogLevel = "info", options: LoggerOptions = {}): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const write = options.write ?? ((line: string) => console.error(line));
  const at = (lineLevel: Exclude<LogLevel, "silent">) => {
    if (LOG_LEVELS.indexOf(lineLevel) < rank) return () => {};
    return (msg: string, fields?: LogFields) => {
      write(
        JSON.stringify(
          { time: new Date().toISOString(), level: lineLevel, msg, ...fields },
          replacer,
        ),
      );
    };
  };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    enabled: (lineLevel) => LOG_LEVELS.indexOf(lineLevel) >= rank,
  };
}
