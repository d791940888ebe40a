/**
 * The {@link QuotaStore} in Redis/Valkey: each operation is one Lua script
 * (atomic in the engine, on the engine's clock), so every Deno and Bun
 * instance on the same Redis draws from the same budget.
 *
 * Keys (prefix `chat:`): `q:b:{key}` bucket hash (tokens, at; expires when
 * full again), `q:s:{key}` sorted set of slots scored by deadline,
 * `q:o:{key}` a single-use mark (`SET NX PX`).
 * @module
 */
import type { RedisClient } from "./redis.ts";
import type { BucketRule, QuotaDecision, QuotaStore } from "./types.ts";

/** The engine's clock in epoch milliseconds. */
const NOW =
  "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/** KEYS[1] bucket; ARGV cost, capacity, refill per second. Returns {ok, retryAfterMs (-1: never)}. */
const TAKE = `${NOW}
local cost, cap, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = cap
if s[1] then tokens = math.min(cap, tonumber(s[1]) + math.max(0, now - tonumber(s[2])) / 1000 * rate) end
local ok, retry = 0, 0
if tokens >= cost then
  tokens = tokens - cost
  ok = 1
elseif cost > cap or rate <= 0 then
  retry = -1
else
  retry = math.ceil((math.min(cost, cap) - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
local ttl = 86400000
if rate > 0 then ttl = math.max(1000, math.ceil((cap - tokens) / rate * 1000) + 1000) end
redis.call('PEXPIRE', KEYS[1], ttl)
return {ok, retry}`;

/** KEYS[1] slot set; ARGV slot, limit, ttl ms. Returns {ok, retryAfterMs}. */
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(first[2]) - now)}`;

/** A {@link QuotaStore} over an open Redis client. */
export class RedisQuotaStore implements QuotaStore {
  #client: RedisClient;
  #prefix: string;

  /** Uses an open client; keys start with `prefix`. */
  constructor(client: RedisClient, options: { prefix: string }) {
    this.#client = client;
    this.#prefix = options.prefix;
  }

  async #script(script: string, key: string, args: (string | number)[]): Promise<QuotaDecision> {
    const [ok, retry] = await this.#client.eval(script, {
      keys: [key],
      arguments: args.map(String),
    }) as [number, number];
    return { ok: ok === 1, retryAfterMs: retry < 0 ? Number.MAX_SAFE_INTEGER : retry };
  }

  take(key: string, cost: number, rule: BucketRule): Promise<QuotaDecision> {
    return this.#script(TAKE, `${this.#prefix}q:b:${key}`, [
      cost,
      rule.capacity,
      rule.refillPerSecond,
    ]);
  }

  acquire(
    key: string,
    slot: string,
    options: { limit: number; ttlMs: number },
  ): Promise<QuotaDecision> {
    return this.#script(ACQUIRE, `${this.#prefix}q:s:${key}`, [slot, options.limit, options.ttlMs]);
  }

  async release(key: string, slot: string): Promise<void> {
    await this.#client.zRem(`${this.#prefix}q:s:${key}`, slot);
  }

  async once(key: string, ttlMs: number): Promise<boolean> {
    const set = await this.#client.set(`${this.#prefix}q:o:${key}`, "1", { NX: true, PX: ttlMs });
    return set === "OK";
  }
}
