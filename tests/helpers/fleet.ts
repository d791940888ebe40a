/**
 * What the fleet suites share: whether the real parts are here (redis-server,
 * HAProxy, Bun), the checks of a whole answer, and reading a session's
 * history back from the fleet's Redis.
 * @module
 */
import { assertEquals } from "@std/assert";
import { HAPROXY, hasHaproxy } from "../../ops/haproxy.ts";
import { hasRedis, REDIS_SERVER } from "../../ops/redis.ts";
import { createLogger } from "../../server/log.ts";
import { openRedisBackend } from "../../server/store/redis.ts";
import type { Turn } from "../../server/store/types.ts";
import type { Frame } from "./resuming_client.ts";
import { BUN, BUN_VERSION } from "./runtimes.ts";

const missing = [
  ...hasRedis() ? [] : [`${REDIS_SERVER} (apt-get install -y redis-server)`],
  ...hasHaproxy() ? [] : [`${HAPROXY} (apt-get install -y haproxy)`],
  ...BUN_VERSION ? [] : [`"${BUN}" (npm install -g bun)`],
];

if (missing.length > 0 && Deno.env.get("REQUIRE_FLEET") === "1") {
  throw new Error(`Cannot run the fleet tests: missing ${missing.join(", ")}`);
}

/** True when a fleet test cannot run here; warns once, saying what to install. */
export const FLEET_IGNORE: boolean = missing.length > 0;
if (FLEET_IGNORE) console.warn(`Fleet tests ignored: missing ${missing.join(", ")}`);

/**
 * Asserts one whole answer: frames `seq` 0..n each exactly once and in
 * order, `session` first, `done` with `stop` last, and `chunks` content
 * frames (when given).
 */
export function assertWholeAnswer(frames: Frame[], chunks?: number): void {
  const seqs = frames.map((frame) => frame.seq);
  assertEquals(seqs, frames.map((_, i) => i), "every frame exactly once, in order");
  assertEquals(frames[0]?.type, "session");
  assertEquals(
    [frames.at(-1)?.type, frames.at(-1)?.finish_reason ?? frames.at(-1)?.code],
    ["done", "stop"],
    "the answer ended normally",
  );
  if (chunks !== undefined) {
    assertEquals(frames.filter((frame) => frame.type === "content").length, chunks);
  }
}

/** The turns of `sessionId` kept in the Redis at `redisUrl`, read through the server's own store. */
export async function historyOf(
  redisUrl: string,
  sessionIds: string[],
): Promise<Map<string, Turn[]>> {
  const backend = await openRedisBackend(redisUrl, {
    window: 1_000,
    ttlMs: 60_000,
    logger: createLogger("silent"),
  });
  try {
    const out = new Map<string, Turn[]>();
    for (const id of sessionIds) out.set(id, await backend.history.load(id));
    return out;
  } finally {
    await backend.close();
  }
}
