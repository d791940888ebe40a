/**
 * Bun entry point: the Bun adapter (`Bun.serve` with our WebSocket upgrade,
 * `server/transports/ws/bun_upgrade.ts`; SQLite + memory backend) around
 * the shared server start.
 *
 *     bun run start:bun
 * @module
 */
import { ensureClientBuildBun } from "./client/build_bun.ts";
import type { Config } from "./server/config.ts";
import { upgradeWebSocket, websocket } from "./server/transports/ws/bun_upgrade.ts";
import {
  runEntry,
  type RunningServer,
  type RuntimeAdapter,
  type StartOptions,
  startServer as start,
} from "./server/entry.ts";

/** The longest WebSocket idle timeout `Bun.serve` takes, in seconds. */
const MAX_IDLE_TIMEOUT_S = 960;

/** Bun's default backpressure limit: the bytes a socket buffers before its sends are dropped. */
const BUN_BACKPRESSURE_LIMIT = 16 * 1024 * 1024;

/** The part of `Bun.serve` this file uses. */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request, server: unknown) => Response | Promise<Response>;
    websocket: typeof websocket & { idleTimeout: number; backpressureLimit: number };
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
      // Bun pings an idle socket and closes it when nothing comes back (at most 960 s).
      websocket: {
        ...websocket,
        idleTimeout: Math.min(config.WS_IDLE_TIMEOUT_S, MAX_IDLE_TIMEOUT_S),
        // An answer pauses above WS_HIGH_WATER_BYTES (connection.ts), well before Bun drops frames.
        backpressureLimit: 2 * config.WS_HIGH_WATER_BYTES + BUN_BACKPRESSURE_LIMIT,
      },
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
