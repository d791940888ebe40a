/**
 * The storage contract: what every backend (Deno KV, SQLite + memory,
 * memory, Redis) provides to the app, and the records it keeps.
 * @module
 */
import type { FinishReason } from "../../protocol/codes.ts";
import type { CoreEvent } from "../core.ts";

/** One finished turn of a conversation, as kept in the session store. */
export interface Turn {
  /** What the user asked. */
  query: string;
  /** The answer text the user saw (partial when the turn was cancelled). */
  answer: string;
  /** How the turn ended (`interrupted`: the instance producing it died). */
  finishReason: FinishReason | "interrupted";
  /** Names of the tools the agent used. */
  tools: string[];
  /** Epoch milliseconds when the turn finished. */
  at: number;
}

/** Most chats a `listChats` returns. */
export const MAX_CHATS = 100;

/** One chat in an owner's list of conversations. */
export interface ChatEntry {
  sessionId: string;
  /** Its title: the first question, or what the owner renamed it to. */
  title: string;
  /** Epoch ms of its last activity (or rename). */
  at: number;
}

/**
 * Keeps the recent turns of every session, within the bounds of
 * `retention.ts`: a session's history (and its owner) expires
 * `HISTORY_TTL_MS` after its last use (`load`, `append`, `claim` of a new
 * session push the expiry), a session keeps at most `MAX_SESSION_BYTES` of
 * turns, an owner at most `MAX_SESSIONS_PER_OWNER` chats.
 */
export interface SessionStore {
  /** The most recent turns of a session (at most the window), oldest first; none once expired. */
  load(sessionId: string): Promise<Turn[]>;
  /**
   * Appends a turn, dropping the oldest turns that fall out of the window
   * or over the byte cap (the new turn always stays).
   */
  append(sessionId: string, turn: Turn): Promise<void>;
  /**
   * Keeps the first `keep` turns of what {@link load} returns and deletes
   * the later ones (regenerate, edit-and-resend); the next append follows them.
   */
  truncate(sessionId: string, keep: number): Promise<void>;
  /**
   * The chats listed for `owner`, most recently active first (at most
   * {@link MAX_CHATS}); an entry expires with its history.
   */
  listChats(owner: string): Promise<ChatEntry[]>;
  /**
   * Lists (or renames) a chat for `owner` and pushes its expiry. When the
   * owner then lists more chats than the cap, the least recently active
   * others are removed with their history: their ids are returned so the
   * caller deletes their uploads too.
   */
  saveChat(owner: string, entry: ChatEntry): Promise<string[]>;
  /**
   * Marks `owner`'s chat `sessionId` as used now: its `at` moves to now and
   * its expiry is pushed. Nothing happens when the owner does not list it.
   */
  touchChat(owner: string, sessionId: string): Promise<void>;
  /**
   * Deletes `owner`'s chat `sessionId`: its entry, its whole history and
   * its owner mark ({@link claim}). False (and nothing deleted) when
   * `owner` does not list it.
   */
  removeChat(owner: string, sessionId: string): Promise<boolean>;
  /**
   * Records `owner` as the owner of `sessionId` if it has none yet (atomic:
   * of two concurrent claims exactly one wins) and tells whether the
   * session now belongs to `owner`. Optional so stores without it keep
   * working; the app refuses to start with authentication on when the
   * store lacks it.
   */
  claim?(sessionId: string, owner: string): Promise<boolean>;
  /** Releases the store. */
  close(): void;
}

/** An event with its sequence number within the answer. */
export interface LoggedEvent {
  seq: number;
  event: CoreEvent;
}

/** What {@link StreamLog.begin} records about an answer. */
export interface StreamInfo {
  sessionId: string;
  /** The question, so a reader that finds the producer dead can keep the partial turn. */
  query: string;
  /** The authenticated identity that may resume it, when auth is on. */
  identity?: string;
}

/** What a reader of the stream log gets back. */
export interface LogRead extends StreamInfo {
  /** Events with `seq` greater than the requested one, in order. */
  events: LoggedEvent[];
  /** True when the answer's final event is in the log. */
  ended: boolean;
  /** The sequence number the next logged event gets. */
  next: number;
  /**
   * False when the answer has not ended and its producer's lease lapsed:
   * the instance producing it died and no more events will come.
   */
  alive: boolean;
}

/** How long a wait on the stream log lasts. */
export interface WaitOptions {
  /** Resolve after this long even if nothing happened. */
  timeoutMs: number;
  /** Resolve at once when this aborts. */
  signal?: AbortSignal;
}

/** A wait for new events: how long it lasts and where the caller's last read left off. */
export interface EventWaitOptions extends WaitOptions {
  /**
   * The `next` of the caller's last {@link StreamLog.read} of the answer.
   * Once armed, the wait looks at the log: when it has moved past `next`
   * (or ended) it ends at once, so an append made between that read and
   * this wait is never missed.
   */
  next: number;
}

/**
 * The stream log: every event of an answer, in order, kept for a while so a
 * client that reconnects (to this instance or another) can be sent exactly
 * what it missed, and so any instance can cancel an answer running elsewhere.
 */
export interface StreamLog {
  /** Records that an answer started; call {@link renew} first so readers see it alive. */
  begin(requestId: string, info: StreamInfo): Promise<void>;
  /** Appends events (contiguous, in order); `ended` marks the last batch. */
  append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void>;
  /** Events after `afterSeq`; `undefined` when the answer is unknown or expired. */
  read(requestId: string, afterSeq: number): Promise<LogRead | undefined>;
  /** The latest answer of a session, if it is still in the log. */
  latest(sessionId: string): Promise<string | undefined>;
  /**
   * Deletes the session's latest answer (the one {@link latest} names) and
   * the pointer to it (a deleted session). Earlier answers of the session
   * are not indexed by session; they expire with the log's TTL.
   */
  forget(sessionId: string): Promise<void>;
  /** Asks whichever instance runs the answer to stop it. */
  requestCancel(requestId: string): Promise<void>;
  /** True once {@link requestCancel} was called for the answer. */
  isCancelRequested(requestId: string): Promise<boolean>;
  /** Holds the producer's lease on an answer for `ttlMs` more (renewed while it runs). */
  renew(requestId: string, ttlMs: number): Promise<void>;
  /**
   * Ends an answer whose producer died: appends `final` as its last event
   * unless it has already ended. Of concurrent callers at most one wins
   * (true); the others, and a late write of the producer, change nothing.
   */
  seal(requestId: string, final: LoggedEvent): Promise<boolean>;
  /**
   * Resolves true when events may have been appended after the read that
   * returned `options.next` (at once when they already were), false when
   * the timeout passed or `signal` aborted first.
   */
  waitForEvents(requestId: string, options: EventWaitOptions): Promise<boolean>;
  /**
   * Resolves true once a cancel was requested (at once when it already
   * was); false when the wait ended without one.
   */
  waitForCancel(requestId: string, options: WaitOptions): Promise<boolean>;
}

/** A finished upload. */
export interface StoredUpload {
  uploadId: string;
  name: string;
  mime: string;
  size: number;
  /** The text of a `text/*` (or JSON/markdown) upload; absent for binary files. */
  text?: string;
}

/** Keeps finished uploads per session. */
export interface UploadStore {
  /** Saves an upload for a session. */
  save(sessionId: string, upload: StoredUpload): Promise<void>;
  /** Loads an upload of a session, or `undefined`. */
  load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined>;
  /** Deletes every upload of a session. */
  deleteSession(sessionId: string): Promise<void>;
}

/** A token bucket: holds at most `capacity` tokens and gains `refillPerSecond` a second. */
export interface BucketRule {
  capacity: number;
  refillPerSecond: number;
}

/** What {@link QuotaStore.take} and {@link QuotaStore.acquire} decided. */
export interface QuotaDecision {
  /** True when the tokens were taken (the slot acquired). */
  ok: boolean;
  /** When refused: how long until it could succeed (0 when `ok`). */
  retryAfterMs: number;
}

/**
 * Counters shared by every instance of a fleet, so a client key has one
 * budget however many connections and instances it uses. Every operation
 * is atomic in the engine: of concurrent callers, no more succeed than the
 * budget allows.
 */
export interface QuotaStore {
  /**
   * Takes `cost` tokens from bucket `key` (created full), or none when it
   * holds fewer. A cost above the capacity is never granted.
   */
  take(key: string, cost: number, rule: BucketRule): Promise<QuotaDecision>;
  /**
   * Takes one of `limit` concurrent slots of `key` under the name `slot`;
   * a slot not released lapses after `ttlMs` (its instance died).
   */
  acquire(key: string, slot: string, options: { limit: number; ttlMs: number }): Promise<
    QuotaDecision
  >;
  /** Gives slot `slot` of `key` back (unknown slots are ignored). */
  release(key: string, slot: string): Promise<void>;
  /**
   * Marks `key` as used for `ttlMs`: true the first time, false while the
   * mark lasts (single-use tickets).
   */
  once(key: string, ttlMs: number): Promise<boolean>;
}

/** Everything instances share, from one engine. */
export interface Backend {
  /** "kv" | "sqlite" | "memory" | "redis" */
  readonly name: string;
  readonly history: SessionStore;
  readonly streamLog: StreamLog;
  readonly uploads: UploadStore;
  /** Budgets and single-use marks shared by every instance. */
  readonly quotas: QuotaStore;
  /** True while the engine answers (for `/readyz`). */
  ready(): Promise<boolean>;
  /** Releases the engine (idempotent). */
  close(): Promise<void>;
}
