/**
 * Session history in Redis/Valkey (see `redis.ts` for the key layout),
 * within the storage bounds of `retention.ts`.
 * @module
 */
import { storedTurn } from "./fit.ts";
import type { RedisClient } from "./redis.ts";
import {
  chatsToDrop,
  isExpired,
  limitsOf,
  listedChats,
  publicChat,
  type SessionStoreOptions,
  type StoredChat,
  type StoreLimits,
} from "./retention.ts";
import type { ChatEntry, SessionStore, Turn } from "./types.ts";

/**
 * KEYS[1] turns list, KEYS[2] owner, KEYS[3] the list's bytes; ARGV turn
 * JSON, window, max bytes, TTL ms. Appends, then pops the oldest turns
 * while `overBounds` (retention.ts) holds, its rule in Lua: only dropped
 * turns are read. The byte total is counted from the list when it is
 * missing (a list from before it, or after a truncate). Pushes the expiry
 * of all three keys.
 */
const APPEND = `
local len = redis.call('LLEN', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[3]))
if len == 0 then
  bytes = 0
elseif not bytes then
  bytes = 0
  for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do bytes = bytes + #item end
end
len = redis.call('RPUSH', KEYS[1], ARGV[1])
bytes = bytes + #ARGV[1]
local window, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
while len > window or (len > 1 and bytes > cap) do
  bytes = bytes - #redis.call('LPOP', KEYS[1])
  len = len - 1
end
redis.call('SET', KEYS[3], bytes, 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return len`;

/**
 * KEYS[1] turns list, KEYS[2] its bytes; ARGV window, keep. Keeps the
 * first `keep` of the last `window` turns (what `load` shows) and drops the
 * byte total, which the next append counts afresh.
 */
const TRUNCATE = `
local len = redis.call('LLEN', KEYS[1])
local keep = math.max(0, len - tonumber(ARGV[1])) + math.max(0, tonumber(ARGV[2]))
if keep >= len then return len end
if keep == 0 then redis.call('DEL', KEYS[1]) else redis.call('LTRIM', KEYS[1], 0, keep - 1) end
redis.call('DEL', KEYS[2])
return keep`;

/**
 * KEYS[1] an owner's chats; ARGV session id, now (epoch ms), TTL ms. Marks
 * a live entry as used now and pushes its expiry and the hash's, in one
 * round trip: an absent or expired entry stays so. 1 when touched, 0 when
 * not, -1 when the entry is JSON the script cannot read back (cjson refuses
 * a lone surrogate escape, which a title cut at 80 characters may end in).
 */
const TOUCH = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local ok, chat = pcall(cjson.decode, raw)
if not ok or type(chat) ~= 'table' then return -1 end
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
if type(chat.expiresAt) == 'number' and chat.expiresAt <= now then return 0 end
chat.at = now
chat.expiresAt = now + ttl
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(chat))
redis.call('PEXPIRE', KEYS[1], ttl)
return 1`;

/**
 * Session history in Redis: a list per session, trimmed to the window and
 * the byte cap (its size in all kept beside it); the list, its size and
 * the owner key expire (`PEXPIRE`) after the last use. An owner's chats are one hash, each entry stamped with its
 * expiry (the hash itself expires after the owner's last save or touch).
 */
export class RedisSessionStore implements SessionStore {
  #client: RedisClient;
  #window: number;
  #prefix: string;
  #limits: StoreLimits;

  /** Uses an open client. */
  constructor(client: RedisClient, options: SessionStoreOptions & { prefix: string }) {
    this.#client = client;
    this.#window = options.window;
    this.#prefix = options.prefix;
    this.#limits = limitsOf(options);
  }

  #key(sessionId: string, part: "turns" | "owner" | "bytes"): string {
    return `${this.#prefix}s:${sessionId}:${part}`;
  }

  /** Every key of a session: its turns, its owner, the bytes of its turns. */
  #keys(sessionId: string): string[] {
    return [
      this.#key(sessionId, "turns"),
      this.#key(sessionId, "owner"),
      this.#key(sessionId, "bytes"),
    ];
  }

  async load(sessionId: string): Promise<Turn[]> {
    const ttl = this.#limits.historyTtlMs;
    const [raw] = await this.#client.multi()
      .lRange(this.#key(sessionId, "turns"), -this.#window, -1)
      .pExpire(this.#key(sessionId, "turns"), ttl)
      .pExpire(this.#key(sessionId, "owner"), ttl)
      .pExpire(this.#key(sessionId, "bytes"), ttl)
      .exec() as unknown as [string[]];
    return raw.map((item) => JSON.parse(item) as Turn);
  }

  async append(sessionId: string, turn: Turn): Promise<void> {
    await this.#client.eval(APPEND, {
      keys: this.#keys(sessionId),
      arguments: [
        storedTurn(turn).json,
        this.#window,
        this.#limits.maxSessionBytes,
        this.#limits.historyTtlMs,
      ].map(String),
    });
  }

  async #chats(owner: string): Promise<StoredChat[]> {
    const all = await this.#client.hGetAll(`${this.#prefix}c:${owner}`);
    return Object.values(all).map((value) => JSON.parse(String(value)) as StoredChat);
  }

  async #setChat(owner: string, entry: ChatEntry): Promise<void> {
    const ttl = this.#limits.historyTtlMs;
    const stored: StoredChat = { ...publicChat(entry), expiresAt: Date.now() + ttl };
    const key = `${this.#prefix}c:${owner}`;
    await this.#client.multi()
      .hSet(key, entry.sessionId, JSON.stringify(stored))
      .pExpire(key, ttl)
      .exec();
  }

  async listChats(owner: string): Promise<ChatEntry[]> {
    return listedChats(await this.#chats(owner));
  }

  async saveChat(owner: string, entry: ChatEntry): Promise<string[]> {
    await this.#setChat(owner, entry);
    const drop = chatsToDrop(await this.#chats(owner), {
      current: entry.sessionId,
      cap: this.#limits.maxSessionsPerOwner,
    });
    if (drop.expired.length > 0) await this.#client.hDel(`${this.#prefix}c:${owner}`, drop.expired);
    for (const id of drop.evicted) await this.removeChat(owner, id);
    return drop.evicted;
  }

  async touchChat(owner: string, sessionId: string): Promise<void> {
    const key = `${this.#prefix}c:${owner}`;
    const ttl = this.#limits.historyTtlMs;
    const touched = await this.#client.eval(TOUCH, {
      keys: [key],
      arguments: [sessionId, String(Date.now()), String(ttl)],
    });
    if (Number(touched) !== -1) return;
    const raw = await this.#client.hGet(key, sessionId);
    const chat = raw ? JSON.parse(raw) as StoredChat : undefined;
    if (chat && !isExpired(chat.expiresAt)) await this.#setChat(owner, { ...chat, at: Date.now() });
  }

  async removeChat(owner: string, sessionId: string): Promise<boolean> {
    const removed = await this.#client.hDel(`${this.#prefix}c:${owner}`, sessionId);
    if (Number(removed) !== 1) return false;
    await this.#client.del(
      this.#keys(sessionId),
    );
    return true;
  }

  async truncate(sessionId: string, keep: number): Promise<void> {
    await this.#client.eval(TRUNCATE, {
      keys: [this.#key(sessionId, "turns"), this.#key(sessionId, "bytes")],
      arguments: [String(this.#window), String(keep)],
    });
  }

  async claim(sessionId: string, owner: string): Promise<boolean> {
    const key = this.#key(sessionId, "owner");
    const ttl = this.#limits.historyTtlMs;
    const [, , current] = await this.#client.multi()
      .set(key, owner, { NX: true, PX: ttl })
      .pExpire(key, ttl)
      .get(key)
      .exec();
    return String(current) === owner;
  }

  close(): void {}
}
