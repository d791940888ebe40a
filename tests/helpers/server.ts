/**
 * Starts the real server (the same `startServer` as `main.ts`) on port 0
 * with in-memory KV, for integration tests.
 * @module
 */
import { startServer as startMain } from "../../main.ts";
import type { Agent } from "../../server/agents/types.ts";
import { loadConfig } from "../../server/config.ts";

/** A server under test. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>/ws/chat` */
  wsUrl: string;
  /** Stops the server and closes its store. */
  close(): Promise<void>;
}

/** Starts a server; `env` overrides the defaults, `agent` replaces the configured agent. */
export async function startServer(
  env: Record<string, string> = {},
  options: { agent?: Agent } = {},
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
    close: running.close,
  };
}
