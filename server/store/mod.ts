/**
 * Chooses and opens the storage backend: the one place that knows which
 * engine a runtime uses.
 *
 * - Deno: Deno KV (`KV_PATH`, or the platform's database on Deno Deploy)
 *   for history, stream log and uploads; shared by every instance.
 * - Bun: SQLite history beside `KV_PATH` plus in-memory stream log and
 *   uploads (single node; see {@link openSqliteBackend}).
 * - Either, with `REDIS_URL`: Redis/Valkey for everything, shared by every
 *   Deno and Bun instance of a fleet.
 * @module
 */
import process from "node:process";
import type { Config } from "../config.ts";
import { type Env, kvPathFor } from "../deploy.ts";
import { createLogger } from "../log.ts";
import { boundedBackend } from "./bounded.ts";
import { openKvBackend } from "./kv.ts";
import { openSqliteBackend, sqlitePathFor } from "./sqlite.ts";
import type { Backend } from "./types.ts";

/** The runtimes with a backend of their own. */
export type BackendRuntime = "deno" | "bun";

/** Options of {@link openBackend}. */
export interface OpenBackendOptions {
  /** Environment variables (default: the process's), for platform defaults. */
  env?: Env;
}

/** Opens the backend `config` asks for on `runtime`. */
export async function openBackend(
  config: Config,
  runtime: BackendRuntime,
  options: OpenBackendOptions = {},
): Promise<Backend> {
  const env = options.env ?? process.env;
  const settings = {
    window: config.HISTORY_WINDOW,
    ttlMs: config.STREAM_TTL_MS,
    historyTtlMs: config.HISTORY_TTL_MS,
    maxSessionsPerOwner: config.MAX_SESSIONS_PER_OWNER,
    maxSessionBytes: config.MAX_SESSION_BYTES,
  };
  if (config.REDIS_URL) {
    const logger = createLogger(config.LOG_LEVEL);
    // Loaded only when asked for: the Redis client is a large module an instance without it never runs.
    const { openRedisBackend } = await import("./redis.ts");
    // The client has no reply timeout: a hung Redis would hold every caller for ever.
    const redis = await openRedisBackend(config.REDIS_URL, { ...settings, logger });
    return boundedBackend(redis, config.STORE_TIMEOUT_MS);
  }
  if (runtime === "bun") return await openSqliteBackend(sqlitePathFor(config.KV_PATH), settings);
  return await openKvBackend(kvPathFor(config, env), settings);
}
