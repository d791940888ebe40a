/**
 * The Redis/Valkey backend: session history, the stream log, uploads and
 * session ownership in one Redis, shared by every Deno and Bun instance that
 * points `REDIS_URL` at it.
 *
 * The engine's own primitives do the work: a Stream per answer (`XADD` one
 * entry per batch, `XRANGE` to read), key expiry (`PX`) for every TTL, a lease
 * key the producing instance keeps renewing, and pub/sub for wake-ups (new
 * events, cancel) so readers wait without polling. Keys (prefix `chat:`):
 *
 * - `s:{session}:turns` list of turns (trimmed to the window and the byte cap),
 *   `s:{session}:bytes` their size in all, `s:{session}:owner`; all expire
 *   `HISTORY_TTL_MS` after the last use
 * - `c:{owner}` hash of the owner's chats (entries stamped with their expiry)
 * - `a:{session}` the latest answer of a session
 * - `r:{request}:meta` hash (session, identity, next, ended), `r:{request}:events`
 *   stream, `r:{request}:cancel`, `r:{request}:lease`
 * - `u:{session}:{upload}` an upload (JSON)
 * - channels `w:{request}` (events appended) and `c:{request}` (cancel)
 *
 * Commands fail at once while Redis is unreachable (no offline queue), so a
 * caller gets a clear error instead of a hang; the client reconnects by itself.
 * A command already sent to a Redis that stops answering (hung, frozen) is
 * never timed out by the client: `openBackend` bounds every call
 * (`bounded.ts`).
 * @module
 */
import { createClient } from "redis";
import type { Logger } from "../log.ts";
import { RedisSessionStore } from "./redis_history.ts";
import type { SessionStoreOptions } from "./retention.ts";
import { RedisQuotaStore } from "./redis_quota.ts";
import type {
  Backend,
  EventWaitOptions,
  LoggedEvent,
  LogRead,
  StoredUpload,
  StreamInfo,
  StreamLog,
  UploadStore,
  WaitOptions,
} from "./types.ts";

/**
 * A command client that fails at once while Redis is unreachable (no offline
 * queue). The first connection is tried once (a wrong URL stops start-up);
 * after that it reconnects for ever, backing off up to 2 s.
 */
function createRedisClient(url: string) {
  let connected = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(50 * 2 ** retries, 2_000) : cause,
    },
  });
  client.on("ready", () => (connected = true));
  return client;
}

/** A connected node-redis client. */
export type RedisClient = ReturnType<typeof createRedisClient>;

export { RedisSessionStore };

/** Settings of the Redis backend. */
export interface RedisOptions extends SessionStoreOptions {
  /** How long answers and uploads are kept. */
  ttlMs: number;
  /** Where connection errors are reported (rate-limited to one line per outage). */
  logger: Logger;
  /** Key prefix, so several deployments can share one Redis. */
  prefix?: string;
}

/** One channel's subscription, shared by every wait on it. */
interface Subscription {
  /** The waits to wake on the next message. */
  waits: Set<() => void>;
  /** Calls every wait (the listener given to Redis). */
  listener: () => void;
  /** Settles once Redis confirmed the subscription (or refused it). */
  ready: Promise<void>;
}

/** Waits on pub/sub channels of one subscriber connection. */
class Channels {
  #sub: RedisClient;
  #subscriptions = new Map<string, Subscription>();

  constructor(sub: RedisClient) {
    this.#sub = sub;
  }

  /**
   * Resolves true on the next message on `channel`, or at once when
   * `happened` (asked once the subscription is in place, so a message
   * published before it shows there) says it already happened; false after
   * `timeoutMs` or when `signal` aborts.
   */
  async next(
    channel: string,
    options: WaitOptions,
    happened: () => Promise<boolean>,
  ): Promise<boolean> {
    if (options.signal?.aborted) return false;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const timer = setTimeout(() => resolve(false), options.timeoutMs);
    const aborted = () => resolve(false);
    options.signal?.addEventListener("abort", aborted, { once: true });
    const woken = () => resolve(true);
    const subscription = this.#subscribe(channel);
    subscription.waits.add(woken);
    try {
      await subscription.ready;
      if (await happened().catch(() => false)) resolve(true);
      return await promise;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", aborted);
      subscription.waits.delete(woken);
      if (subscription.waits.size === 0 && this.#subscriptions.get(channel) === subscription) {
        this.#subscriptions.delete(channel);
        await this.#sub.unsubscribe(channel, subscription.listener).catch(() => {});
      }
    }
  }

  /** The channel's subscription, made when it has none. */
  #subscribe(channel: string): Subscription {
    let subscription = this.#subscriptions.get(channel);
    if (subscription) return subscription;
    const waits = new Set<() => void>();
    const listener = () => {
      for (const wake of waits) wake();
    };
    // A failed subscription (Redis down) just means waiting for the timeout.
    const ready = this.#sub.subscribe(channel, listener).catch(() => {});
    subscription = { waits, listener, ready };
    this.#subscriptions.set(channel, subscription);
    return subscription;
  }
}

/** Connects to Redis at `url` (command and subscriber connections). */
export async function connectRedis(
  url: string,
  logger: Logger,
): Promise<{ client: RedisClient; sub: RedisClient }> {
  let down = false;
  const watch = (client: RedisClient, role: string) => {
    client.on("error", (error: unknown) => {
      if (down) return;
      down = true;
      logger.error("Redis unreachable; retrying", { role, error: String(error) });
    });
    client.on("ready", () => {
      if (!down) return;
      down = false;
      logger.info("Redis reachable again", { role });
    });
  };
  const client = createRedisClient(url);
  watch(client, "commands");
  await client.connect();
  const sub = client.duplicate();
  watch(sub, "subscriber");
  await sub.connect();
  return { client, sub };
}

/** The stream log in Redis Streams, with pub/sub wake-ups and a producer lease. */
export class RedisStreamLog implements StreamLog {
  #client: RedisClient;
  #channels: Channels;
  #ttlMs: number;
  #prefix: string;

  /** Uses an open command client and subscriber. */
  constructor(
    client: RedisClient,
    sub: RedisClient,
    options: { ttlMs: number; prefix: string },
  ) {
    this.#client = client;
    this.#channels = new Channels(sub);
    this.#ttlMs = options.ttlMs;
    this.#prefix = options.prefix;
  }

  #key(requestId: string, part: string): string {
    return `${this.#prefix}r:${requestId}:${part}`;
  }

  async begin(requestId: string, info: StreamInfo): Promise<void> {
    const meta = this.#key(requestId, "meta");
    const fields: Record<string, string> = {
      sessionId: info.sessionId,
      query: info.query,
      next: "0",
      ended: "0",
    };
    if (info.identity !== undefined) fields.identity = info.identity;
    await this.#client.multi()
      .del([meta, this.#key(requestId, "events")])
      .hSet(meta, fields)
      .pExpire(meta, this.#ttlMs)
      .set(`${this.#prefix}a:${info.sessionId}`, requestId, { PX: this.#ttlMs })
      .exec();
  }

  async append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const [exists, sealed] = await this.#client.hmGet(this.#key(requestId, "meta"), [
      "sessionId",
      "sealed",
    ]);
    if (!exists) throw new Error(`Cannot append to stream: "${requestId}" was not begun`);
    // A sealed answer is over: its producer was given up for dead.
    if (sealed) return;
    await this.#write(requestId, events, ended);
  }

  async #write(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const meta = this.#key(requestId, "meta");
    const stream = this.#key(requestId, "events");
    const op = this.#client.multi();
    if (events.length > 0) {
      op.xAdd(stream, "*", { b: JSON.stringify(events) }).pExpire(stream, this.#ttlMs);
      op.hSet(meta, "next", String(events.at(-1)!.seq + 1));
    }
    if (ended) op.hSet(meta, "ended", "1");
    op.publish(`${this.#prefix}w:${requestId}`, "1");
    await op.exec();
  }

  async read(requestId: string, afterSeq: number): Promise<LogRead | undefined> {
    const [meta, entries, lease] = await this.#client.multi()
      .hGetAll(this.#key(requestId, "meta"))
      .xRange(this.#key(requestId, "events"), "-", "+")
      .exists(this.#key(requestId, "lease"))
      .exec() as unknown as [
        Record<string, string>,
        { message: Record<string, string> }[],
        number,
      ];
    if (!meta.sessionId) return undefined;
    const events: LoggedEvent[] = [];
    // A batch added again (a retry after a lost reply) is read once.
    let last = afterSeq;
    for (const entry of entries) {
      for (const item of JSON.parse(entry.message.b) as LoggedEvent[]) {
        if (item.seq <= last) continue;
        events.push(item);
        last = item.seq;
      }
    }
    const ended = meta.ended === "1";
    return {
      sessionId: meta.sessionId,
      query: meta.query ?? "",
      identity: meta.identity,
      events,
      ended,
      next: Number(meta.next ?? 0),
      alive: ended || lease === 1,
    };
  }

  async latest(sessionId: string): Promise<string | undefined> {
    return (await this.#client.get(`${this.#prefix}a:${sessionId}`)) ?? undefined;
  }

  async forget(sessionId: string): Promise<void> {
    const requestId = await this.latest(sessionId);
    const keys = [`${this.#prefix}a:${sessionId}`];
    if (requestId !== undefined) {
      keys.push(...["meta", "events", "cancel", "lease"].map((part) => this.#key(requestId, part)));
    }
    await this.#client.del(keys);
  }

  async requestCancel(requestId: string): Promise<void> {
    await this.#client.multi()
      .set(this.#key(requestId, "cancel"), "1", { PX: this.#ttlMs })
      .publish(`${this.#prefix}c:${requestId}`, "1")
      .exec();
  }

  async isCancelRequested(requestId: string): Promise<boolean> {
    return (await this.#client.exists(this.#key(requestId, "cancel"))) === 1;
  }

  async renew(requestId: string, ttlMs: number): Promise<void> {
    await this.#client.set(this.#key(requestId, "lease"), "1", { PX: ttlMs });
  }

  async seal(requestId: string, final: LoggedEvent): Promise<boolean> {
    const meta = this.#key(requestId, "meta");
    // Only one reader may seal: HSETNX on a field no producer writes.
    if (!await this.#client.hSetNX(meta, "sealed", "1")) return false;
    const current = await this.#client.hGet(meta, "ended");
    if (current === "1") return false;
    await this.#write(requestId, [final], true);
    return true;
  }

  waitForEvents(requestId: string, options: EventWaitOptions): Promise<boolean> {
    return this.#channels.next(`${this.#prefix}w:${requestId}`, options, async () => {
      const [next, ended] = await this.#client.hmGet(this.#key(requestId, "meta"), [
        "next",
        "ended",
      ]);
      return next !== null && (ended === "1" || Number(next) !== options.next);
    });
  }

  async waitForCancel(requestId: string, options: WaitOptions): Promise<boolean> {
    const channel = `${this.#prefix}c:${requestId}`;
    await this.#channels.next(channel, options, () => this.isCancelRequested(requestId));
    return !options.signal?.aborted && await this.isCancelRequested(requestId);
  }
}

/** Uploads in Redis: one JSON value per upload, expiring with the stream TTL. */
export class RedisUploadStore implements UploadStore {
  #client: RedisClient;
  #ttlMs: number;
  #prefix: string;

  /** Uses an open client. */
  constructor(client: RedisClient, options: { ttlMs: number; prefix: string }) {
    this.#client = client;
    this.#ttlMs = options.ttlMs;
    this.#prefix = options.prefix;
  }

  async save(sessionId: string, upload: StoredUpload): Promise<void> {
    const key = `${this.#prefix}u:${sessionId}:${upload.uploadId}`;
    await this.#client.set(key, JSON.stringify(upload), { PX: this.#ttlMs });
  }

  async load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined> {
    const raw = await this.#client.get(`${this.#prefix}u:${sessionId}:${uploadId}`);
    return raw === null ? undefined : JSON.parse(raw) as StoredUpload;
  }

  async deleteSession(sessionId: string): Promise<void> {
    // Session ids match ID_PATTERN: no glob characters to escape.
    const match = `${this.#prefix}u:${sessionId}:*`;
    for await (const keys of this.#client.scanIterator({ MATCH: match, COUNT: 500 })) {
      if (keys.length > 0) await this.#client.del(keys);
    }
  }
}

/**
 * Connects to `url` and builds the backend.
 *
 * @throws {Error} naming the URL's host when Redis cannot be reached at start.
 */
export async function openRedisBackend(url: string, options: RedisOptions): Promise<Backend> {
  const prefix = options.prefix ?? "chat:";
  let connection: { client: RedisClient; sub: RedisClient };
  try {
    connection = await connectRedis(url, options.logger);
  } catch (error) {
    const host = URL.canParse(url) ? new URL(url).host : "REDIS_URL";
    throw new Error(`Cannot connect to Redis at "${host}": ${error}`);
  }
  const { client, sub } = connection;
  let closing: Promise<void> | undefined;
  return {
    name: "redis",
    history: new RedisSessionStore(client, { ...options, prefix }),
    streamLog: new RedisStreamLog(client, sub, { ttlMs: options.ttlMs, prefix }),
    uploads: new RedisUploadStore(client, { ttlMs: options.ttlMs, prefix }),
    quotas: new RedisQuotaStore(client, { prefix }),
    ready: () => client.ping().then(() => true, () => false),
    close() {
      closing ??= Promise.allSettled([sub.close(), client.close()]).then(() => {});
      return closing;
    },
  };
}
