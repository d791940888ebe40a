/**
 * Session history in Redis/Valkey (see `redis.ts` for the key layout),
 * within the storage bounds of `retention.ts`.
 * @module
 */
import { fitTurn } from "./fit.ts";
import type { RedisClient } from "./redis.ts";
import {
  chatsToDrop,
  isExpired,
  limitsOf,
  publicChat,
  type SessionStoreOptions,
  type StoredChat,
  type StoreLimits,
} from "./retention.ts";
import { type ChatEntry, MAX_CHATS, type SessionStore, type Turn } from "./types.ts";

/**
 * KEYS[1] turns list, KEYS[2] owner; ARGV turn JSON, window, max bytes, TTL
 * ms. Appends, keeps the newest turns within the window and the byte cap
 * (at least the new one: {@link keptTurns}'s rule) and pushes the expiry.
 */
const APPEND = `
redis.call('RPUSH', KEYS[1], ARGV[1])
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[2]), -1)
local bytes, kept = 0, 0
for i = #items, 1, -1 do
  bytes = bytes + #items[i]
  if kept > 0 and bytes > tonumber(ARGV[3]) then break end
  kept = kept + 1
end
redis.call('LTRIM', KEYS[1], -kept, -1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return kept`;

/**
 * Session history in Redis: a list per session, trimmed to the window and
 * the byte cap; the list and the owner key expire (`PEXPIRE`) after the
 * last use. An owner's chats are one hash, each entry stamped with its
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

  #key(sessionId: string, part: "turns" | "owner"): string {
    return `${this.#prefix}s:${sessionId}:${part}`;
  }

  async load(sessionId: string): Promise<Turn[]> {
    const ttl = this.#limits.historyTtlMs;
    const [raw] = await this.#client.multi()
      .lRange(this.#key(sessionId, "turns"), -this.#window, -1)
      .pExpire(this.#key(sessionId, "turns"), ttl)
      .pExpire(this.#key(sessionId, "owner"), ttl)
      .exec() as unknown as [string[]];
    return raw.map((item) => JSON.parse(item) as Turn);
  }

  async append(sessionId: string, turn: Turn): Promise<void> {
    await this.#client.eval(APPEND, {
      keys: [this.#key(sessionId, "turns"), this.#key(sessionId, "owner")],
      arguments: [
        JSON.stringify(fitTurn(turn)),
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
    return (await this.#chats(owner))
      .filter((chat) => !isExpired(chat.expiresAt))
      .map(publicChat)
      .sort((a, b) => b.at - a.at)
      .slice(0, MAX_CHATS);
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
    const raw = await this.#client.hGet(`${this.#prefix}c:${owner}`, sessionId);
    const chat = raw ? JSON.parse(raw) as StoredChat : undefined;
    if (chat && !isExpired(chat.expiresAt)) await this.#setChat(owner, { ...chat, at: Date.now() });
  }

  async removeChat(owner: string, sessionId: string): Promise<boolean> {
    const removed = await this.#client.hDel(`${this.#prefix}c:${owner}`, sessionId);
    if (Number(removed) !== 1) return false;
    await this.#client.del([this.#key(sessionId, "turns"), this.#key(sessionId, "owner")]);
    return true;
  }

  async truncate(sessionId: string, keep: number): Promise<void> {
    const key = this.#key(sessionId, "turns");
    // `load` shows the last `window` items: keep the first `keep` of those.
    const length = await this.#client.lLen(key);
    const end = Math.max(0, length - this.#window) + Math.max(0, keep);
    if (end >= length) return;
    if (end === 0) await this.#client.del(key);
    else await this.#client.lTrim(key, 0, end - 1);
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
