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
import type { Config } from "./server/config.ts";
import { runEntry } from "./server/entry.ts";
import { registryOf } from "./server/connections.ts";
import { kvPathFor, listenOptionsFor } from "./server/deploy.ts";
import { KvSessionStore, openKv } from "./server/store/kv.ts";
import { KvStreamLog } from "./server/streams/log.ts";
import { KvUploadStore } from "./server/uploads.ts";

/** A running server. */
export interface RunningServer {
  /** `http://host:port` of the listener. */
  url: string;
  /**
   * Graceful shutdown: refuses new streams (503), ends every running turn
   * (persisted) and closes sockets with 1012 and SSE streams with a final
   * event, all within `SHUTDOWN_TIMEOUT_MS`; then stops the listener and
   * closes the store.
   */
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
  const env = Deno.env.toObject();
  const kv = await openKv(kvPathFor(config, env));
  const store = new KvSessionStore(kv, { window: config.HISTORY_WINDOW });
  const ttlMs = config.STREAM_TTL_MS;
  const { app, log } = await assemble(config, {
    store,
    upgradeWebSocket,
    agent: overrides.agent,
    streamLog: new KvStreamLog(kv, { ttlMs }),
    uploads: new KvUploadStore(kv, { ttlMs }),
  });
  const registry = registryOf(app);
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({ ...listenOptionsFor(config, env), onListen: resolve }, app.fetch);
  const address = await listening;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    close() {
      closing ??= (async () => {
        const report = await registry.drain(config.SHUTDOWN_TIMEOUT_MS);
        // Sockets and streams are closed; bound the listener's own wait too.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          server.shutdown(),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000))),
        ]);
        clearTimeout(timer);
        store.close();
        if (report.drained + report.terminated > 0) log.info("Drained connections", { ...report });
      })();
      return closing;
    },
  };
}

if (import.meta.main) await runEntry(startServer, ensureClientBuild);
