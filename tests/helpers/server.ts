/**
 * Starts the real server (the same `startServer` as `main.ts`) on port 0
 * with in-memory KV, for integration tests.
 * @module
 */
import { startServer as startMain } from "../../main.ts";
import { loadConfig } from "../../server/config.ts";
import type { StartOptions } from "../../server/entry.ts";

/**
 * Turns the per-client-key budgets off, for tests that deliberately load
 * one server from one address (load, fuzz) as they turn the other limits off.
 */
export const NO_KEY_BUDGETS = {
  KEY_MESSAGES_PER_MINUTE: "0",
  KEY_ANSWERS_PER_MINUTE: "0",
  MAX_ANSWERS_PER_CLIENT: "0",
};

/** A server under test. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>/ws/chat` */
  wsUrl: string;
  /** `http://127.0.0.1:<port>` of the `/metrics` listener, when `METRICS_PORT` is set. */
  metricsUrl?: string;
  /** Stops the server and closes its store. */
  close(): Promise<void>;
}

/**
 * Starts a server; `env` overrides the defaults; `options` replace the
 * configured agent, the telemetry providers, where log lines go.
 */
export async function startServer(
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<TestServer> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    KV_PATH: ":memory:",
    LOG_LEVEL: "silent",
    DEMO_DELAY_MS: "1",
    ...env,
  });
  const running = await startMain(config, options);
  return {
    url: running.url,
    wsUrl: running.url.replace(/^http/, "ws") + "/ws/chat",
    metricsUrl: running.metricsUrl,
    close: running.close,
  };
}
