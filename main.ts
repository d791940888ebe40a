/**
 * Deno entry point: reads the configuration, opens Deno KV, serves the app.
 *
 *     deno task start
 * @module
 */
import { upgradeWebSocket } from "hono/deno";
import { ensureClientBuild } from "./client/build.ts";
import type { Agent } from "./server/agents/mod.ts";
import { assemble } from "./server/assemble.ts";
import { type Config, ConfigError, loadConfig } from "./server/config.ts";
import { KvSessionStore } from "./server/store/kv.ts";

/** A running server. */
export interface RunningServer {
  /** `http://host:port` of the listener. */
  url: string;
  /** Stops accepting, closes connections and the store. */
  close(): Promise<void>;
}

/**
 * Builds the app from `config` and serves it with `Deno.serve`.
 * `overrides.agent` replaces the configured agent (tests use it).
 */
export async function startServer(
  config: Config,
  overrides: { agent?: Agent } = {},
): Promise<RunningServer> {
  const store = await KvSessionStore.open(config.KV_PATH, {
    window: config.HISTORY_WINDOW,
  });
  const { app } = await assemble(config, { store, upgradeWebSocket, agent: overrides.agent });
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: config.HOST,
    port: config.PORT,
    onListen: resolve,
  }, app.fetch);
  const address = await listening;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return {
    url: `http://${host}:${address.port}`,
    async close() {
      await server.shutdown();
      store.close();
    },
  };
}

if (import.meta.main) {
  let config: Config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    Deno.exit(1);
  }
  await ensureClientBuild();
  const running = await startServer(config);
  console.log(`Listening on ${running.url}/ (agent: ${config.AGENT})`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      await running.close();
      Deno.exit(0);
    });
  }
}
