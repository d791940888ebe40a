/**
 * An owner's chat entries in Deno KV (`["chats", owner, sessionId]`
 * {@link StoredChat}, with the history's `expireIn`), remembering the
 * entries this instance wrote or read last: marking a chat as used (after
 * every answer) then needs no read, and its write joins the history's
 * group commit ({@link KvGroupCommit}) instead of a commit of its own.
 * @module
 */
import type { KvGroupCommit } from "./kv_group_commit.ts";
import { whenUnlocked } from "./kv_open.ts";
import { isExpired, publicChat, type StoredChat } from "./retention.ts";
import type { ChatEntry } from "./types.ts";

/** Entries this instance remembers (about 300 bytes each). */
const CACHED_CHATS = 10_000;
const MAX_ATTEMPTS = 10;

/** Options of {@link KvChats}. */
export interface KvChatsOptions {
  /** How long an entry lives after its last use (ms). */
  ttlMs: number;
  /** The commit group touches join. */
  group: KvGroupCommit;
}

/** The chat entries of a KV database. */
export class KvChats {
  #kv: Deno.Kv;
  #ttlMs: number;
  #group: KvGroupCommit;
  /**
   * The entries written or read last, by owner and session: a touch is
   * checked against the remembered versionstamp, so an entry another
   * instance changed or removed since fails the check (and is read again).
   */
  #known = new Map<string, Deno.KvEntry<StoredChat>>();

  /** Keeps the chat entries of `kv`. */
  constructor(kv: Deno.Kv, options: KvChatsOptions) {
    this.#kv = kv;
    this.#ttlMs = options.ttlMs;
    this.#group = options.group;
  }

  #remember(entry: Deno.KvEntry<StoredChat>): void {
    const id = cacheKey(entry.key);
    this.#known.delete(id);
    this.#known.set(id, entry);
    if (this.#known.size > CACHED_CHATS) this.#known.delete(this.#known.keys().next().value!);
  }

  /** Every stored entry of `owner`, expired ones too. */
  async all(owner: string): Promise<StoredChat[]> {
    const chats: StoredChat[] = [];
    for await (const entry of this.#kv.list<StoredChat>({ prefix: ["chats", owner] })) {
      chats.push(entry.value);
    }
    return chats;
  }

  /** Writes `entry` for `owner`, its expiry pushed. */
  async set(owner: string, entry: ChatEntry): Promise<void> {
    const key = ["chats", owner, entry.sessionId];
    const stored = this.#stored(entry);
    const result = await whenUnlocked(() => this.#kv.set(key, stored, { expireIn: this.#ttlMs }));
    this.#remember({ key, value: stored, versionstamp: result.versionstamp });
  }

  /**
   * Marks a live entry as used now (its expiry pushed); an absent or
   * expired one stays so. Written checked against the entry as last seen
   * (remembered, else read), in the group commit.
   */
  async touch(owner: string, sessionId: string): Promise<void> {
    const key = ["chats", owner, sessionId];
    const id = cacheKey(key);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const seen = this.#known.get(id) ?? await this.#kv.get<StoredChat>(key);
      if (seen.value === null || isExpired(seen.value.expiresAt)) return;
      const stored = this.#stored({ ...seen.value, at: Date.now() });
      const result = await this.#group.commit({
        guards: `chat:${id}`,
        build: (op) => op.check(seen).set(key, stored, { expireIn: this.#ttlMs }),
        mutations: 1,
        bytes: 300,
      });
      if (result.ok) {
        this.#remember({ key, value: stored, versionstamp: result.versionstamp });
        return;
      }
      // Changed or removed elsewhere since: read it afresh.
      this.#known.delete(id);
    }
    throw new Error(`Cannot mark chat as used: chat "${sessionId}" kept changing`);
  }

  /** Deletes `owner`'s entry of `sessionId`; false when there was none. */
  async delete(owner: string, sessionId: string): Promise<boolean> {
    const key = ["chats", owner, sessionId];
    this.#known.delete(cacheKey(key));
    const listed = await this.#kv.get(key);
    if (listed.value === null) return false;
    await whenUnlocked(() => this.#kv.delete(key));
    return true;
  }

  #stored(entry: ChatEntry): StoredChat {
    return { ...publicChat(entry), expiresAt: Date.now() + this.#ttlMs };
  }
}

/** A chat key as one string, unambiguous whatever the owner holds. */
function cacheKey(key: Deno.KvKey): string {
  const owner = key[1] as string;
  return `${owner.length}:${owner}${key[2] as string}`;
}
