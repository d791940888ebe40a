/**
 * The storage contract run against memory, Deno KV (`:memory:`) and Redis
 * (a real `redis-server` per case, skipped where it is not installed).
 * SQLite's session store runs it in `sqlite_store_test.ts` (Deno and Bun).
 * @module
 */
import { openKvBackend } from "../server/store/kv.ts";
import { createLogger } from "../server/log.ts";
import { openMemoryBackend } from "../server/store/memory.ts";
import { openRedisBackend } from "../server/store/redis.ts";
import type { StoreLimits } from "../server/store/retention.ts";
import type { Backend } from "../server/store/types.ts";
import { hasRedis, startRedis } from "./helpers/redis_server.ts";
import {
  quotaStoreContract,
  sessionStoreContract,
  streamLogContract,
  uploadStoreContract,
} from "./helpers/store_contracts.ts";

const TTL_MS = 60_000;

/** A Redis backend on its own redis-server, stopped when the backend closes. */
async function openRedis(
  window: number,
  limits: Partial<StoreLimits>,
  ttlMs = TTL_MS,
): Promise<Backend> {
  const server = await startRedis();
  const logger = createLogger("silent");
  const settings = { window, ttlMs, logger, ...limits };
  const backend = await openRedisBackend(server.url, settings);
  return {
    ...backend,
    async close() {
      await backend.close();
      await server.stop();
    },
  };
}

/** Opens a backend; `ttlMs` is how long logged answers and uploads live. */
type Open = (window?: number, limits?: Partial<StoreLimits>, ttlMs?: number) => Promise<Backend>;

const BACKENDS: Record<string, Open> = {
  memory: (window = 10, limits = {}, ttlMs = TTL_MS) =>
    Promise.resolve(openMemoryBackend({ window, ttlMs, ...limits })),
  kv: (window = 10, limits = {}, ttlMs = TTL_MS) =>
    openKvBackend(":memory:", { window, ttlMs, ...limits }),
};
if (hasRedis()) {
  BACKENDS.redis = (window = 10, limits = {}, ttlMs) => openRedis(window, limits, ttlMs);
} else console.warn("redis-server not installed: the Redis backend contract is skipped");

for (const [name, open] of Object.entries(BACKENDS)) {
  sessionStoreContract(name, async (window, limits) => {
    const backend = await open(window, limits);
    const { history } = backend;
    // Closing the history closes its whole backend (and a test redis-server).
    return {
      load: (sessionId) => history.load(sessionId),
      append: (sessionId, turn) => history.append(sessionId, turn),
      truncate: (sessionId, keep) => history.truncate(sessionId, keep),
      listChats: (owner) => history.listChats(owner),
      saveChat: (owner, entry) => history.saveChat(owner, entry),
      touchChat: (owner, sessionId) => history.touchChat(owner, sessionId),
      removeChat: (owner, sessionId) => history.removeChat(owner, sessionId),
      claim: (sessionId, owner) => history.claim!(sessionId, owner),
      close: () => void backend.close(),
    };
  });
  streamLogContract(name, () => open());
  uploadStoreContract(name, (ttlMs) => open(undefined, undefined, ttlMs));
  quotaStoreContract(name, () => open());
}
