/**
 * A minimal leveled logger writing one line per entry to stderr.
 * @module
 */

/** Log levels, quietest last. */
export type LogLevel = "debug" | "info" | "error" | "silent";

const RANK: Record<LogLevel, number> = {
  debug: 0,
  info: 1,
  error: 2,
  silent: 3,
};

/** Writes log lines at or above a level. */
export interface Logger {
  /** Routine events: start-up, connections. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Failures; `fields` may carry the error detail kept out of client frames. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Creates a logger that drops entries below `level`. */
export function createLogger(level: LogLevel = "info"): Logger {
  const write = (
    at: LogLevel,
    message: string,
    fields?: Record<string, unknown>,
  ) => {
    if (RANK[at] < RANK[level]) return;
    const detail = fields ? " " + JSON.stringify(fields, errorReplacer) : "";
    console.error(`${new Date().toISOString()} ${at} ${message}${detail}`);
  };
  return {
    info: (message, fields) => write("info", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}
