/**
 * The one server start shared by the runtime entries (`main.ts` on Deno,
 * `bun.ts` on Bun): open the backend, assemble the app, serve it through
 * the runtime's adapter, and shut down gracefully (drain, bounded listener
 * stop, drain log, backend close). {@link runEntry} is the command line.
 * @module
 */
import process from "node:process";
import type { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { listeningLine } from "../protocol/codes.ts";
import { type Agent, createAgent } from "./agents/mod.ts";
import { createApp } from "./app.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { registryOf } from "./connections.ts";
import { loadDocs } from "./docs.ts";
import { createLogger } from "./log.ts";
import { listen, type Listener, ListenError } from "./listen.ts";
import { openBackend } from "./store/mod.ts";
import { metricsRoutes } from "./telemetry/http.ts";
import { Telemetry } from "./telemetry/mod.ts";
import type { Backend } from "./store/types.ts";

/** How long the listener's own shutdown may take once every stream is closed. */
const LISTENER_STOP_MS = 1_000;

export type { Listener } from "./listen.ts";

/** What a runtime supplies: its name, its WebSocket upgrade and how it serves. */
export interface RuntimeAdapter {
  /** Chooses the backend (Deno: KV; Bun: SQLite + memory). */
  runtime: "deno" | "bun";
  /** The command that starts the server, for messages (`deno task start`). */
  command: string;
  /** Hono's `upgradeWebSocket` for the runtime. */
  upgradeWebSocket: UpgradeWebSocket;
  /** Serves `app` on `config`'s host and port. */
  serve(app: Hono, config: Config): Promise<Listener>;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port` of the listener. */
  url: string;
  /** `http://host:port` of the `/metrics` listener when `METRICS_PORT` is set. */
  metricsUrl?: string;
  /**
   * Graceful shutdown: refuses new streams (503), ends every running turn
   * (persisted) and closes sockets with 1012 and SSE streams with a final
   * event, all within `SHUTDOWN_TIMEOUT_MS`; then stops the listener and
   * closes the backend.
   */
  close(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  /** Replaces the configured agent (tests use it). */
  agent?: Agent;
  /** Replaces the runtime's backend (tests use it); closed with the server. */
  backend?: Backend;
  /** Where traces and metrics go (tests pass SDK providers); default: the global ones. */
  telemetry?: Telemetry;
  /** Where log lines go; default: stderr. */
  writeLog?: (line: string) => void;
}

/** Opens the backend, builds the app from `config` and serves it with `adapter`. */
export async function startServer(
  config: Config,
  adapter: RuntimeAdapter,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = createLogger(config.LOG_LEVEL, { write: options.writeLog });
  const telemetry = options.telemetry ?? new Telemetry();
  const agent = options.agent ?? await createAgent(config, await loadDocs());
  const backend = options.backend ?? await openBackend(config, adapter.runtime);
  const app = createApp({
    config,
    agent,
    backend,
    upgradeWebSocket: adapter.upgradeWebSocket,
    runtime: adapter.runtime,
    logger,
    telemetry,
  });
  const listening = { serve: adapter.serve, config, command: adapter.command };
  const listeners: Listener[] = [];
  try {
    listeners.push(await listen(app, { ...listening, variable: "PORT" }));
    if (config.METRICS_PORT !== undefined) {
      const metrics = metricsRoutes(telemetry, config.METRICS_TOKEN);
      listeners.push(await listen(metrics, { ...listening, variable: "METRICS_PORT" }));
    }
  } catch (error) {
    await Promise.all(listeners.map((listener) => listener.shutdown()));
    await backend.close();
    throw error;
  }
  const [listener, metricsListener] = listeners;
  logger.info("Started", {
    url: listener.url,
    metrics_url: metricsListener?.url,
    agent: agent.name,
    backend: backend.name,
    log_level: config.LOG_LEVEL,
  });
  const registry = registryOf(app);
  let closing: Promise<void> | undefined;
  return {
    url: listener.url,
    metricsUrl: metricsListener?.url,
    close() {
      closing ??= (async () => {
        const report = await registry.drain(config.SHUTDOWN_TIMEOUT_MS);
        // Sockets and streams are closed; bound the listener's own wait too.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(listeners.map((open) => open.shutdown())),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, LISTENER_STOP_MS))),
        ]);
        clearTimeout(timer);
        await backend.close();
        if (report.drained + report.terminated > 0) {
          logger.info("Drained connections", { ...report });
        }
      })();
      return closing;
    },
  };
}

/**
 * The command line of an entry: read the configuration (exit 1 naming a bad
 * variable), `build` the client, serve, print the Listening line, drain on
 * SIGINT/SIGTERM.
 */
export async function runEntry(
  adapter: RuntimeAdapter,
  build: () => Promise<unknown>,
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  await build();
  let running: RunningServer;
  try {
    running = await startServer(config, adapter);
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  console.log(listeningLine(running.url, config.AGENT));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      process.on(signal, async () => {
        console.log(`${signal}: draining (at most ${config.SHUTDOWN_TIMEOUT_MS} ms)`);
        await running.close();
        process.exit(0);
      });
    } catch {
      // Platforms without signals (Deno Deploy) stop isolates themselves.
    }
  }
}
