/**
 * Storage bounds every session store applies the same way: how long
 * history lives after its last use, how many chats an owner keeps and how
 * many bytes of turns a session keeps. The rules are written once here;
 * Redis runs the turn rule ({@link overBounds}) in its append script.
 * @module
 */
import { type ChatEntry, MAX_CHATS } from "./types.ts";

/** The bounds of a session store. */
export interface StoreLimits {
  /** How long a session's history and an owner's chat entry live after their last use (ms). */
  historyTtlMs: number;
  /** Most chats an owner keeps: listing one more evicts the least recently used. */
  maxSessionsPerOwner: number;
  /** Most bytes of stored turns (UTF-8 JSON) per session: the oldest turns leave first. */
  maxSessionBytes: number;
}

/** The defaults (`HISTORY_TTL_MS`, `MAX_SESSIONS_PER_OWNER`, `MAX_SESSION_BYTES`). */
export const DEFAULT_LIMITS: StoreLimits = {
  historyTtlMs: 30 * 86_400_000,
  maxSessionsPerOwner: 100,
  maxSessionBytes: 512 * 1024,
};

/** Options of every session store: the turn window and (optionally) its bounds. */
export interface SessionStoreOptions extends Partial<StoreLimits> {
  /** Turns kept per session. */
  window: number;
}

/** `options`' bounds, defaults filled in. */
export function limitsOf(options: Partial<StoreLimits>): StoreLimits {
  return {
    historyTtlMs: options.historyTtlMs ?? DEFAULT_LIMITS.historyTtlMs,
    maxSessionsPerOwner: options.maxSessionsPerOwner ?? DEFAULT_LIMITS.maxSessionsPerOwner,
    maxSessionBytes: options.maxSessionBytes ?? DEFAULT_LIMITS.maxSessionBytes,
  };
}

/**
 * True when a record stamped to expire at `expiresAt` (epoch ms) is gone.
 * A record without a stamp (written before retention existed) is not.
 */
export function isExpired(expiresAt: number | null | undefined, now = Date.now()): boolean {
  return expiresAt !== undefined && expiresAt !== null && expiresAt <= now;
}

/**
 * True when a use at `now` should push the expiry of a record stamped
 * `expiresAt` to `now + ttlMs`: always, unless it was pushed within the
 * last tenth of the TTL (spares stores whose refresh rewrites values).
 */
export function refreshDue(
  expiresAt: number | undefined,
  ttlMs: number,
  now = Date.now(),
): boolean {
  return expiresAt === undefined || expiresAt - now < ttlMs - ttlMs / 10;
}

const encoder = new TextEncoder();

/** Where {@link turnBytes} encodes to count (a stored turn's JSON fits: 60 000 bytes at most). */
const scratch = new Uint8Array(64 * 1024);

/**
 * The stored size of a turn: the UTF-8 bytes of its JSON. Counted by
 * encoding into one reused buffer: no array of the turn's size per append
 * (a quarter of the CPU on Bun, an eighth on Deno, 3 KB turns); a text too
 * long for it is encoded whole.
 */
export function turnBytes(json: string): number {
  const { read, written } = encoder.encodeInto(json, scratch);
  return read === json.length ? written : encoder.encode(json).length;
}

/** What a session holds: its turns and their stored bytes ({@link turnBytes}) in all. */
export interface Held {
  turns: number;
  bytes: number;
}

/** The bounds of a session's turns: the window and the byte cap. */
export interface TurnBounds {
  window: number;
  maxBytes: number;
}

/**
 * The rule of both caps: true when a session holding `held` (the new turn
 * included) must drop its oldest turn, because it holds more turns than
 * the window or more bytes than the cap. A single turn stays under any cap
 * (it was fitted to one value). Dropping oldest first while this holds
 * keeps the newest turns within both bounds; Redis runs the same loop in
 * its append script.
 */
export function overBounds(held: Held, bounds: TurnBounds): boolean {
  return held.turns > bounds.window || (held.turns > 1 && held.bytes > bounds.maxBytes);
}

/** The turn bounds of a store's options: its window and byte cap (the default filled in). */
export function turnBoundsOf(options: SessionStoreOptions): TurnBounds {
  return { window: options.window, maxBytes: limitsOf(options).maxSessionBytes };
}

/** A chat entry as stored: with the epoch ms it expires at (absent in older records). */
export type StoredChat = ChatEntry & { expiresAt?: number };

/** `chat` without its stamp, as `listChats` returns it. */
export function publicChat({ sessionId, title, at }: StoredChat): ChatEntry {
  return { sessionId, title, at };
}

/** What `listChats` shows of stored chats: the live ones, most recently used first, at most {@link MAX_CHATS}. */
export function listedChats(chats: Iterable<StoredChat>, now = Date.now()): ChatEntry[] {
  return [...chats]
    .filter((chat) => !isExpired(chat.expiresAt, now))
    .map(publicChat)
    .sort((a, b) => b.at - a.at)
    .slice(0, MAX_CHATS);
}

/**
 * What to drop from an owner's chats after `current` was listed: the
 * expired entries (history already gone), and beyond the cap the least
 * recently active (`at`) others, whose history and uploads go too.
 */
export function chatsToDrop(
  chats: readonly StoredChat[],
  options: { current: string; cap: number; now?: number },
): { expired: string[]; evicted: string[] } {
  const now = options.now ?? Date.now();
  const expired = chats.filter((chat) => isExpired(chat.expiresAt, now));
  const live = chats.filter((chat) => !isExpired(chat.expiresAt, now));
  const others = live.filter((chat) => chat.sessionId !== options.current)
    .sort((a, b) => a.at - b.at);
  const over = Math.max(0, live.length - options.cap);
  return {
    expired: expired.map((chat) => chat.sessionId),
    evicted: others.slice(0, over).map((chat) => chat.sessionId),
  };
}
