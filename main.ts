/**
 * Deno entry point: the Deno adapter (the front door's accept loop, or
 * `Deno.serve` on Deno Deploy and with `MAX_OPEN_CONNECTIONS=0`; the
 * WebSocket upgrade of `server/transports/ws/deno_upgrade.ts`, Deno KV
 * backend) around the shared server start.
 *
 *     deno task start
 * @module
 */
import { ensureClientBuild } from "./client/build.ts";
import type { Config } from "./server/config.ts";
import { listenOptionsFor } from "./server/deploy.ts";
import { upgradeWebSocket } from "./server/transports/ws/deno_upgrade.ts";
import { connectionCap, frontDoorAvailable, openFrontDoor } from "./server/front_door.ts";
import {
  runEntry,
  type RunningServer,
  type RuntimeAdapter,
  type StartOptions,
  startServer as start,
} from "./server/entry.ts";

export type { RunningServer } from "./server/entry.ts";

/** `http://host:port` of a listening address. */
function urlOf({ hostname, port }: Deno.NetAddr): string {
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/**
 * Serves through the front door (connection cap, header timeout, survives
 * running out of descriptors); with `Deno.serve` on Deno Deploy (the
 * platform's address) and when `MAX_OPEN_CONNECTIONS` is 0.
 */
export const denoAdapter: RuntimeAdapter = {
  runtime: "deno",
  command: "deno task start",
  upgradeWebSocket,
  async serve(app, config) {
    const options = listenOptionsFor(config, Deno.env.toObject());
    if (
      options.hostname !== undefined && config.MAX_OPEN_CONNECTIONS > 0 && frontDoorAvailable()
    ) {
      const door = openFrontDoor((request, info) => app.fetch(request, info), {
        hostname: options.hostname,
        port: options.port ?? config.PORT,
        maxConnections: connectionCap(config.MAX_OPEN_CONNECTIONS),
        headerTimeoutMs: config.HEADER_TIMEOUT_MS,
        onPressure: ({ reason, shed }) => console.error(`${reason} (shed: ${shed})`),
      });
      return { url: urlOf(door.addr), shutdown: () => door.shutdown() };
    }
    const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
    const server = Deno.serve({ ...options, onListen: resolve }, app.fetch);
    return { url: urlOf(await listening), shutdown: () => server.shutdown() };
  },
};

/** Starts the server on Deno; `overrides.agent` replaces the configured agent (tests). */
export function startServer(config: Config, overrides: StartOptions = {}): Promise<RunningServer> {
  return start(config, denoAdapter, overrides);
}

if (import.meta.main) await runEntry(denoAdapter, ensureClientBuild);
