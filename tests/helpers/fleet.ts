/**
 * What the fleet suites share: whether the real parts are here (redis-server,
 * HAProxy, Bun), the checks of a whole answer, and reading a session's
 * history back from the fleet's Redis, and the moves of a fleet test's
 * clients (a paced answer, start then drop, read to the end).
 * @module
 */
import { assertEquals } from "@std/assert";
import { HAPROXY, hasHaproxy } from "../../ops/haproxy.ts";
import { hasRedis, REDIS_SERVER } from "../../ops/redis.ts";
import { createLogger } from "../../server/log.ts";
import { openKvBackend } from "../../server/store/kv.ts";
import { openRedisBackend } from "../../server/store/redis.ts";
import type { Turn } from "../../server/store/types.ts";
import type { Instance } from "../../ops/instance.ts";
import type { Frame } from "./resuming_client.ts";
import { BUN, BUN_VERSION } from "./runtimes.ts";
import { WsTestClient } from "./ws_client.ts";

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

/** Where a fleet keeps its history: a Redis, or a Deno KV file. */
export type StoreAt = { redisUrl: string } | { kvPath: string };

/** The turns of each session kept in the fleet's store, read through the server's own store code. */
export async function historyOf(
  at: StoreAt,
  sessionIds: string[],
): Promise<Map<string, Turn[]>> {
  const settings = { window: 1_000, ttlMs: 60_000 };
  const backend = "redisUrl" in at
    ? await openRedisBackend(at.redisUrl, { ...settings, logger: createLogger("silent") })
    : await openKvBackend(at.kvPath, settings);
  try {
    const out = new Map<string, Turn[]>();
    for (const id of sessionIds) out.set(id, await backend.history.load(id));
    return out;
  } finally {
    await backend.close();
  }
}

/** `promise`, or a rejection naming `what` after `ms` (a safety bound against a hang, not a timing assertion). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`No ${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A close code that is not 1000: the server treats it as a drop, not a goodbye. */
const DROP = 4000;
/** Safety bound on the first frames of an answer (never a timing assertion). */
const FIRST_FRAMES_MS = 60_000;

/** Instance environment for a paced synthetic answer of `chunks` chunks of 4 characters, `intervalMs` apart. */
export function paced(chunks: number, intervalMs: number): Record<string, string> {
  return {
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: String(chunks),
    SYNTHETIC_CHUNK_BYTES: "4",
    SYNTHETIC_INTERVAL_MS: String(intervalMs),
    LOG_LEVEL: "silent",
  };
}

/** Reads `count` frames from `client`. */
export async function take(client: WsTestClient, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  while (frames.length < count) frames.push(await client.next());
  return frames;
}

/** Frames through the end of the request (`done`, or an `error` frame of it), within `ms`. */
export function untilEndWithin(client: WsTestClient, ms: number, what: string): Promise<Frame[]> {
  return within(
    client.until((f) => f.type === "done" || (f.type === "error" && f.request_id !== undefined)),
    ms,
    what,
  );
}

/** Starts an answer on `from`, drops the socket after `seen` frames; returns them. */
export async function startThenDrop(
  from: Instance,
  request: { sessionId: string; requestId: string },
  seen: number,
): Promise<Frame[]> {
  const client = await WsTestClient.connect(from.wsUrl);
  client.send({ query: "count", session_id: request.sessionId, request_id: request.requestId });
  const frames = await within(take(client, seen), FIRST_FRAMES_MS, `first frames on ${from.name}`);
  client.socket.close(DROP, "network drop");
  await client.closed();
  return frames;
}
