/**
 * Bun entry point: the Bun adapter (`Bun.serve`, `hono/bun`'s
 * `upgradeWebSocket` and `websocket` handler; SQLite + memory backend)
 * around the shared server start.
 *
 *     bun run start:bun
 * @module
 */
import { upgradeWebSocket, websocket } from "hono/bun";
import { ensureClientBuildBun } from "./client/build_bun.ts";
import type { Config } from "./server/config.ts";
import { controlPingReceived } from "./server/transports/ws/mod.ts";
import {
  runEntry,
  type RunningServer,
  type RuntimeAdapter,
  type StartOptions,
  startServer as start,
} from "./server/entry.ts";

/** The part of `Bun.serve` this file uses. */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request, server: unknown) => Response | Promise<Response>;
    websocket: typeof websocket & { ping(ws: unknown): void };
  }): { url: URL; stop(closeActive?: boolean): Promise<void> };
}

/** Serves with `Bun.serve`. */
export const bunAdapter: RuntimeAdapter = {
  runtime: "bun",
  command: "bun run start:bun",
  upgradeWebSocket,
  serve(app, config) {
    const { Bun } = globalThis as unknown as { Bun: BunServe };
    const server = Bun.serve({
      hostname: config.HOST,
      port: config.PORT,
      fetch: app.fetch,
      // Bun reports control-frame pings (and answers them): they count against the socket's rate limit.
      websocket: { ...websocket, ping: (ws) => controlPingReceived(ws) },
    });
    return Promise.resolve({
      url: server.url.href.replace(/\/$/, ""),
      shutdown: () => server.stop(true),
    });
  },
};

/** Starts the server on Bun. */
export function startServer(config: Config, overrides: StartOptions = {}): Promise<RunningServer> {
  return start(config, bunAdapter, overrides);
}

if (import.meta.main) await runEntry(bunAdapter, ensureClientBuildBun);
