/**
 * Opening a listener through a runtime adapter, with the one start-up
 * failure people hit most often said plainly: a port already in use names
 * the port, the variable that sets it and a command that picks another.
 * @module
 */
import type { Hono } from "hono";
import type { Config } from "./config.ts";

/** A listening socket, as a runtime adapter opened it. */
export interface Listener {
  /** `http://host:port` of the listener. */
  url: string;
  /** Stops accepting and closes the listener. */
  shutdown(): Promise<void>;
}

/** Serves an app on `config`'s host and port. */
export type Serve = (app: Hono, config: Config) => Promise<Listener>;

/** The server cannot listen; the message says what to do. */
export class ListenError extends Error {
  /** Creates a listen error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
  }
}

/** True for "address in use" on Deno (`Deno.errors.AddrInUse`) and on Bun/Node (`EADDRINUSE`). */
export function isAddrInUse(error: unknown): boolean {
  const { name, code, message } = (error ?? {}) as {
    name?: string;
    code?: string;
    message?: string;
  };
  return name === "AddrInUse" || code === "EADDRINUSE" ||
    /EADDRINUSE|address in use/i.test(message ?? "");
}

/** How {@link listen} serves and how the operator starts the server. */
export interface ListenOptions {
  /** The runtime adapter's serve. */
  serve: Serve;
  /** The configuration (`HOST`, and the port of `variable`). */
  config: Config;
  /** The variable that sets the port (`PORT`, `METRICS_PORT`). */
  variable: "PORT" | "METRICS_PORT";
  /** The command that starts the server (`deno task start`). */
  command: string;
}

/**
 * Serves `app` on `config.HOST` and `config[variable]`.
 *
 * @throws {ListenError} when the port is in use, naming it and how to pick another.
 */
export async function listen(app: Hono, options: ListenOptions): Promise<Listener> {
  const { serve, config } = options;
  const port = options.variable === "PORT" ? config.PORT : config.METRICS_PORT ?? 0;
  try {
    return await serve(app, { ...config, PORT: port });
  } catch (error) {
    if (!isAddrInUse(error)) throw error;
    const other = port === 0 || port >= 65_535 ? 8001 : port + 1;
    throw new ListenError(
      `Cannot listen on ${config.HOST}:${port}: the port is in use by another process. ` +
        `Stop that process, or pick another port with ${options.variable}, e.g. ` +
        `${options.variable}=${other} ${options.command} (${options.variable}=0 picks a free one)`,
      { cause: error },
    );
  }
}
