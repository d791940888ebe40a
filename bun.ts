/**
 * Bun entry point: reads the configuration, opens the SQLite session store
 * (`bun:sqlite`, beside `KV_PATH`), serves the same app as `main.ts` with
 * `hono/bun`'s `upgradeWebSocket` and `websocket` handler and `Bun.serve`.
 *
 *     bun run start:bun
 * @module
 */
import { upgradeWebSocket, websocket } from "hono/bun";
import { ensureClientBuildBun } from "./client/build_bun.ts";
import { assemble } from "./server/assemble.ts";
import type { Config } from "./server/config.ts";
import { runEntry } from "./server/entry.ts";
import { registryOf } from "./server/connections.ts";
import { sqlitePathFor, SqliteSessionStore } from "./server/store/sqlite.ts";

/** The part of `Bun.serve` this file uses. */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request, server: unknown) => Response | Promise<Response>;
    websocket: typeof websocket;
  }): { url: URL; stop(closeActive?: boolean): Promise<void> };
}

/**
 * Builds the app from `config` and serves it with `Bun.serve`. `close()` shuts
 * down like `main.ts`: drains streams (at most `SHUTDOWN_TIMEOUT_MS`), stops
 * the listener, closes the store.
 */
export async function startBunServer(
  config: Config,
): Promise<{ url: string; close(): Promise<void> }> {
  const store = await SqliteSessionStore.open(sqlitePathFor(config.KV_PATH), {
    window: config.HISTORY_WINDOW,
  });
  const { app } = await assemble(config, { store, upgradeWebSocket });
  const { Bun } = globalThis as unknown as { Bun: BunServe };
  const server = Bun.serve({
    hostname: config.HOST,
    port: config.PORT,
    fetch: app.fetch,
    websocket,
  });
  return {
    url: server.url.href.replace(/\/$/, ""),
    async close() {
      await registryOf(app).drain(config.SHUTDOWN_TIMEOUT_MS);
      await server.stop(true);
      store.close();
    },
  };
}

if (import.meta.main) await runEntry(startBunServer, ensureClientBuildBun);
