/**
 * Deno entry point: the Deno adapter (`Deno.serve`, the WebSocket upgrade
 * of `server/transports/ws/deno_upgrade.ts`, Deno KV backend) around the
 * shared server start.
 *
 *     deno task start
 * @module
 */
import { ensureClientBuild } from "./client/build.ts";
import type { Config } from "./server/config.ts";
import { listenOptionsFor } from "./server/deploy.ts";
import { upgradeWebSocket } from "./server/transports/ws/deno_upgrade.ts";
import {
  runEntry,
  type RunningServer,
  type RuntimeAdapter,
  type StartOptions,
  startServer as start,
} from "./server/entry.ts";

export type { RunningServer } from "./server/entry.ts";

/** Serves with `Deno.serve` (on Deno Deploy, on the platform's address). */
export const denoAdapter: RuntimeAdapter = {
  runtime: "deno",
  command: "deno task start",
  upgradeWebSocket,
  async serve(app, config) {
    const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
    const options = listenOptionsFor(config, Deno.env.toObject());
    const server = Deno.serve({ ...options, onListen: resolve }, app.fetch);
    const { hostname, port } = await listening;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    return { url: `http://${host}:${port}`, shutdown: () => server.shutdown() };
  },
};

/** Starts the server on Deno; `overrides.agent` replaces the configured agent (tests). */
export function startServer(config: Config, overrides: StartOptions = {}): Promise<RunningServer> {
  return start(config, denoAdapter, overrides);
}

if (import.meta.main) await runEntry(denoAdapter, ensureClientBuild);
