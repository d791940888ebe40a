/**
 * Session history in Deno KV (see `kv.ts` for the key layout), within the
 * storage bounds of `retention.ts`.
 * @module
 */
import { storedTurn } from "./fit.ts";
import { KvChats } from "./kv_chats.ts";
import { KvGroupCommit } from "./kv_group_commit.ts";
import { decodeJson, encodeJson, jsonBytes } from "./kv_json.ts";
import { openKv, whenUnlocked } from "./kv_open.ts";
import {
  chatsToDrop,
  type Held,
  isExpired,
  limitsOf,
  listedChats,
  overBounds,
  refreshDue,
  type SessionStoreOptions,
  type StoreLimits,
  type TurnBounds,
  turnBoundsOf,
} from "./retention.ts";
import type { ChatEntry, SessionStore, Turn } from "./types.ts";

const MAX_ATTEMPTS = 10;
/** Sessions whose meta this instance remembers (about 200 bytes each). */
const CACHED_METAS = 10_000;

/** A session's counter: the next turn number, when the session expires, what it holds. */
interface SessionMeta {
  next: number;
  /** Epoch ms; every key of the session lives at least this long (absent before retention). */
  expiresAt?: number;
  /**
   * The turns stored and their bytes, as of turn number `next` (absent in
   * metas written before it; a writer that moved `next` without it left it
   * stale): an append reads old turns only to drop them.
   */
  held?: HeldTurns & { next: number };
}

/**
 * What a session holds, and the bytes of each turn it holds, oldest first
 * (absent in metas written before them): the oldest turns can then be
 * dropped without reading them, numbered `next - turns` on.
 */
type HeldTurns = Held & { sizes?: number[] };

/** What an append commits besides the turn: what the session holds after it, what goes. */
interface AppendPlan {
  held: HeldTurns;
  expiresAt: number | undefined;
  dropped: Deno.KvKey[];
  /** Keys rewritten to push the expiry. */
  rewrites: Deno.KvEntry<unknown>[];
}

/** A stored turn's size ({@link jsonBytes}), whichever its form. */
const sizeOf = (entry: Deno.KvEntry<unknown>) => jsonBytes(entry.value);

/** A meta as KV stores it ({@link encodeJson}). */
const storedMeta = (meta: SessionMeta) => encodeJson(JSON.stringify(meta));

/** A meta entry read from KV, its value decoded ({@link decodeJson}). */
const metaOf = (entry: Deno.KvEntryMaybe<unknown>): Deno.KvEntryMaybe<SessionMeta> =>
  ({ ...entry, value: decodeJson(entry.value) }) as Deno.KvEntryMaybe<SessionMeta>;

/**
 * Everything KV holds of a session, read in one list: the meta decoded,
 * the other values as stored (UTF-8 JSON bytes, or objects written before).
 */
interface SessionKeys {
  meta: Deno.KvEntryMaybe<SessionMeta>;
  /** The owner key and the turns (oldest first): what a refresh rewrites. */
  others: Deno.KvEntry<unknown>[];
  turns: Deno.KvEntry<unknown>[];
}

/** Bytes and mutations of one KV commit at most (KV allows 800 KiB and 1,000). */
const COMMIT_BYTES = 600_000;
const COMMIT_MUTATIONS = 500;

/**
 * A {@link SessionStore} over a Deno KV database. Every key of a session
 * is written with `expireIn` and the meta carries the expiry as a stamp:
 * KV deletes expired keys lazily, so reads go by the stamp. Pushing the
 * expiry rewrites the session's keys (at most once per tenth of the TTL).
 */
export class KvSessionStore implements SessionStore {
  #kv: Deno.Kv;
  #window: number;
  #limits: StoreLimits;
  #bounds: TurnBounds;
  #group: KvGroupCommit;
  #chats: KvChats;
  /**
   * The meta of the sessions this instance wrote or read last, so an
   * append need not read it first: the append's commit is checked against
   * it, and a meta another instance changed since fails the check (the
   * append then reads it and tries again).
   */
  #metas = new Map<string, Deno.KvEntry<SessionMeta>>();

  /**
   * Wraps an open KV database; keeps the last `window` turns per session.
   * `groupWrites`: most appends in one commit (default: what local KV allows).
   */
  constructor(kv: Deno.Kv, options: SessionStoreOptions & { groupWrites?: number }) {
    this.#kv = kv;
    this.#window = options.window;
    this.#limits = limitsOf(options);
    this.#bounds = turnBoundsOf(options);
    this.#group = new KvGroupCommit(kv, { maxWrites: options.groupWrites });
    this.#chats = new KvChats(kv, { ttlMs: this.#limits.historyTtlMs, group: this.#group });
  }

  /** Remembers `meta` as the session's latest, the most recent last. */
  #remember(sessionId: string, meta: Deno.KvEntry<SessionMeta>): void {
    this.#metas.delete(sessionId);
    this.#metas.set(sessionId, meta);
    if (this.#metas.size > CACHED_METAS) this.#metas.delete(this.#metas.keys().next().value!);
  }

  /** The session's meta as KV holds it now. */
  async #readMeta(sessionId: string): Promise<Deno.KvEntryMaybe<SessionMeta>> {
    return metaOf(await this.#kv.get(["sessions", sessionId, "meta"]));
  }

  /** Opens KV at `path` (`:memory:` for in-memory, `undefined` for the platform default). */
  static async open(
    path: string | undefined,
    options: SessionStoreOptions,
  ): Promise<KvSessionStore> {
    return new KvSessionStore(await openKv(path), options);
  }

  async #read(sessionId: string): Promise<SessionKeys> {
    const keys: SessionKeys = {
      meta: { key: ["sessions", sessionId, "meta"], value: null, versionstamp: null },
      others: [],
      turns: [],
    };
    for await (const entry of this.#kv.list({ prefix: ["sessions", sessionId] })) {
      if (entry.key[2] === "meta") keys.meta = metaOf(entry);
      else if (entry.key[2] === "turns") keys.turns.push(entry);
      else keys.others.push(entry);
    }
    return keys;
  }

  /**
   * Commits `sets` (values as stored, each with the session's
   * `expireIn`), then `last` in the final commit; every commit is checked
   * against `meta`, so a concurrent change makes it fail. Large rewrites
   * take several commits.
   */
  async #commit(
    meta: Deno.KvEntryMaybe<SessionMeta>,
    sets: Deno.KvEntry<unknown>[],
    last: (op: Deno.AtomicOperation) => void,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    const expireIn = this.#limits.historyTtlMs;
    let op = this.#kv.atomic().check(meta);
    let bytes = 0;
    let mutations = 0;
    for (const { key, value } of sets) {
      const size = jsonBytes(value) + 200;
      if (mutations > 0 && (bytes + size > COMMIT_BYTES || mutations >= COMMIT_MUTATIONS)) {
        const result = await whenUnlocked(() => op.commit());
        if (!result.ok) return result;
        op = this.#kv.atomic().check(meta);
        bytes = mutations = 0;
      }
      op.set(key, value, { expireIn });
      bytes += size;
      mutations++;
    }
    last(op);
    return await whenUnlocked(() => op.commit());
  }

  async load(sessionId: string): Promise<Turn[]> {
    const { meta, others, turns } = await this.#read(sessionId);
    const now = Date.now();
    if (meta.value === null || isExpired(meta.value.expiresAt, now)) return [];
    const shown = turns.slice(-this.#window);
    if (!refreshDue(meta.value.expiresAt, this.#limits.historyTtlMs, now)) {
      this.#remember(sessionId, meta);
      return shown.map((entry) => decodeJson<Turn>(entry.value));
    }
    const expiresAt = now + this.#limits.historyTtlMs;
    const refreshed: SessionMeta = { ...meta.value, expiresAt };
    // A concurrent change (an append) pushes the expiry itself: a lost race is fine.
    const result = await this.#commit(
      meta,
      [...others, ...turns],
      (op) =>
        op.set(meta.key, storedMeta(refreshed), {
          expireIn: this.#limits.historyTtlMs,
        }),
    );
    if (result.ok) {
      this.#remember(sessionId, { ...meta, value: refreshed, versionstamp: result.versionstamp });
    } else this.#metas.delete(sessionId);
    return shown.map((entry) => decodeJson<Turn>(entry.value));
  }

  /**
   * Appends in one commit checked against the meta: the turn, the meta
   * (next number, expiry, what the session holds) and the deletion of the
   * oldest turns when the new one puts the session over its bounds. Only
   * those are read, unless the expiry is pushed (every key is rewritten) or
   * the meta does not know what the session holds. The meta is the one
   * this instance remembers, if any; the commit goes out in a group with
   * the other appends of the moment, unless it rewrites the session.
   */
  async append(sessionId: string, turn: Turn): Promise<void> {
    // The turn's JSON, serialised once, is both what is stored and its size.
    const value = encodeJson(storedTurn(turn).json);
    const size = value.byteLength;
    const ttl = this.#limits.historyTtlMs;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // With the meta remembered and the sizes known, nothing is awaited before the
      // write is queued: writes the caller starts beside it join the same commit.
      const meta = this.#metas.get(sessionId) ?? await this.#readMeta(sessionId);
      const fast = this.#planFast(sessionId, meta, size);
      const plan = (fast instanceof Promise ? await fast : fast) ??
        await this.#planFull(sessionId, size);
      const n = meta.value?.next ?? 0;
      const next: SessionMeta = {
        next: n + 1,
        expiresAt: plan.expiresAt,
        held: { ...plan.held, next: n + 1 },
      };
      const write = (op: Deno.AtomicOperation) => {
        op.set(["sessions", sessionId, "turns", n], value, { expireIn: ttl });
        op.set(meta.key, storedMeta(next), { expireIn: ttl });
        for (const key of plan.dropped) op.delete(key);
      };
      const result = plan.rewrites.length > 0
        ? await this.#commit(meta, plan.rewrites, write)
        : await this.#group.commit({
          guards: sessionId,
          build: (op) => write(op.check(meta)),
          mutations: 2 + plan.dropped.length,
          bytes: size + 200,
        });
      if (result.ok) {
        this.#remember(sessionId, {
          key: meta.key,
          value: next,
          versionstamp: result.versionstamp,
        });
        return;
      }
      // Changed elsewhere since: read it afresh.
      this.#metas.delete(sessionId);
    }
    throw new Error(`Cannot append turn: session "${sessionId}" kept changing`);
  }

  /**
   * The plan of an append of `size` bytes from what `meta` says the
   * session holds, reading only the turns that go; undefined when that
   * does not do: the expiry is due a push, the meta does not know, or the
   * turns are not what it says.
   */
  #planFast(
    sessionId: string,
    meta: Deno.KvEntryMaybe<SessionMeta>,
    size: number,
  ): AppendPlan | Promise<AppendPlan | undefined> | undefined {
    const known = meta.value?.held;
    if (!known || known.next !== meta.value!.next) return undefined;
    const expiresAt = meta.value!.expiresAt;
    if (isExpired(expiresAt) || refreshDue(expiresAt, this.#limits.historyTtlMs)) return undefined;
    const held = { turns: known.turns + 1, bytes: known.bytes + size };
    const dropped: Deno.KvKey[] = [];
    const sizes = known.sizes?.length === known.turns ? [...known.sizes, size] : undefined;
    if (sizes) {
      // The turns held are numbered `next - turns` on: the oldest go unread.
      const oldest = known.next - known.turns;
      while (overBounds(held, this.#bounds)) {
        dropped.push(["sessions", sessionId, "turns", oldest + dropped.length]);
        held.turns--;
        held.bytes -= sizes.shift()!;
      }
      return { held: { ...held, sizes }, expiresAt, dropped, rewrites: [] };
    }
    const plan = { held, expiresAt, dropped, rewrites: [] };
    return overBounds(held, this.#bounds) ? this.#planUnsized(sessionId, plan) : plan;
  }

  /**
   * {@link #planFast} over the bounds for a meta without the turns' sizes
   * (written before them): the oldest turns are read to learn what
   * dropping them frees.
   */
  async #planUnsized(sessionId: string, plan: AppendPlan): Promise<AppendPlan | undefined> {
    const { held, dropped } = plan;
    const oldest = this.#kv.list({ prefix: ["sessions", sessionId, "turns"] }, {
      batchSize: Math.min(Math.max(1, held.turns - this.#window), 100),
    });
    for await (const entry of oldest) {
      dropped.push(entry.key);
      held.turns--;
      held.bytes -= sizeOf(entry);
      if (!overBounds(held, this.#bounds)) break;
    }
    return overBounds(held, this.#bounds) ? undefined : plan;
  }

  /**
   * The plan of an append of `size` bytes from every key of the session:
   * an expired session starts afresh, a due expiry push rewrites the keys
   * that stay, the oldest turns over the bounds go.
   */
  async #planFull(sessionId: string, size: number): Promise<AppendPlan> {
    const { meta, others, turns } = await this.#read(sessionId);
    const now = Date.now();
    const ttl = this.#limits.historyTtlMs;
    const expired = isExpired(meta.value?.expiresAt, now);
    const live = expired ? [] : turns;
    const sizes = [...live.map(sizeOf), size];
    const held = { turns: sizes.length, bytes: sizes.reduce((sum, bytes) => sum + bytes, 0) };
    let first = 0;
    while (first < live.length && overBounds(held, this.#bounds)) {
      held.turns--;
      held.bytes -= sizes[first++];
    }
    const refresh = expired || refreshDue(meta.value?.expiresAt, ttl, now);
    return {
      held: { ...held, sizes: sizes.slice(first) },
      expiresAt: refresh ? now + ttl : meta.value?.expiresAt,
      dropped: (expired ? turns : live.slice(0, first)).map((entry) => entry.key),
      rewrites: refresh ? [...others, ...live.slice(first)] : [],
    };
  }

  async listChats(owner: string): Promise<ChatEntry[]> {
    return listedChats(await this.#chats.all(owner));
  }

  async saveChat(owner: string, entry: ChatEntry): Promise<string[]> {
    await this.#chats.set(owner, entry);
    const drop = chatsToDrop(await this.#chats.all(owner), {
      current: entry.sessionId,
      cap: this.#limits.maxSessionsPerOwner,
    });
    for (const id of drop.expired) await this.#chats.delete(owner, id);
    for (const id of drop.evicted) await this.removeChat(owner, id);
    return drop.evicted;
  }

  touchChat(owner: string, sessionId: string): Promise<void> {
    return this.#chats.touch(owner, sessionId);
  }

  async removeChat(owner: string, sessionId: string): Promise<boolean> {
    this.#metas.delete(sessionId);
    if (!await this.#chats.delete(owner, sessionId)) return false;
    // The turns, the turn counter and the owner mark; at most the window plus two keys.
    for await (const entry of this.#kv.list({ prefix: ["sessions", sessionId] })) {
      await whenUnlocked(() => this.#kv.delete(entry.key));
    }
    return true;
  }

  async truncate(sessionId: string, keep: number): Promise<void> {
    this.#metas.delete(sessionId);
    const metaKey = ["sessions", sessionId, "meta"];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const meta = metaOf(await this.#kv.get(metaKey));
      if (meta.value === null || isExpired(meta.value.expiresAt)) return;
      const window: Deno.KvEntry<unknown>[] = [];
      const entries = this.#kv.list(
        { prefix: ["sessions", sessionId, "turns"] },
        { reverse: true, limit: this.#window },
      );
      for await (const entry of entries) window.push(entry);
      window.reverse();
      const dropped = window.slice(Math.max(0, keep));
      if (dropped.length === 0) return;
      // The next append takes the first dropped slot.
      const next = dropped[0].key.at(-1) as number;
      const known = meta.value.held?.next === meta.value.next ? meta.value.held : undefined;
      const turns = known && known.turns - dropped.length;
      const held = known && {
        turns: turns!,
        bytes: dropped.reduce((bytes, entry) => bytes - sizeOf(entry), known.bytes),
        // The newest go: the sizes of the oldest stay.
        sizes: known.sizes?.length === known.turns ? known.sizes.slice(0, turns) : undefined,
        next,
      };
      const truncated: SessionMeta = { ...meta.value, next, held };
      const op = this.#kv.atomic().check(meta).set(metaKey, storedMeta(truncated), {
        expireIn: this.#limits.historyTtlMs,
      });
      for (const entry of dropped) op.delete(entry.key);
      if ((await whenUnlocked(() => op.commit())).ok) return;
    }
    throw new Error(`Cannot truncate history: session "${sessionId}" kept changing`);
  }

  /**
   * Claims with `expireIn`; the owner key is rewritten with the session's
   * other keys. Until KV deletes an expired owner key, the old owner's
   * claim still holds (session ids are random: nobody else asks for it).
   */
  async claim(sessionId: string, owner: string): Promise<boolean> {
    const key = ["sessions", sessionId, "owner"];
    const expireIn = this.#limits.historyTtlMs;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#kv.get<string>(key);
      if (current.value !== null) return current.value === owner;
      const claim = this.#kv.atomic().check(current).set(key, owner, { expireIn });
      const result = await whenUnlocked(() => claim.commit());
      if (result.ok) return true;
    }
    throw new Error(`Cannot claim session: session "${sessionId}" kept changing`);
  }

  close(): void {
    this.#kv.close();
  }
}
