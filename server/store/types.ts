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
  /** How the turn ended. */
  finishReason: FinishReason;
  /** Names of the tools the agent used. */
  tools: string[];
  /** Epoch milliseconds when the turn finished. */
  at: number;
}

/** Keeps the recent turns of every session. */
export interface SessionStore {
  /** The most recent turns of a session (at most the window), oldest first. */
  load(sessionId: string): Promise<Turn[]>;
  /** Appends a turn, dropping turns that fall out of the window. */
  append(sessionId: string, turn: Turn): Promise<void>;
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

/** What a reader of the stream log gets back. */
export interface LogRead {
  sessionId: string;
  /** The authenticated identity that started the answer, if any. */
  identity?: string;
  /** Events with `seq` greater than the requested one, in order. */
  events: LoggedEvent[];
  /** True when the answer's final event is in the log. */
  ended: boolean;
}

/**
 * The stream log: every event of an answer, in order, kept for a while so a
 * client that reconnects (to this instance or another) can be sent exactly
 * what it missed, and so any instance can cancel an answer running elsewhere.
 */
export interface StreamLog {
  /** Records that an answer started (`identity`: who may resume it, when auth is on). */
  begin(requestId: string, sessionId: string, identity?: string): Promise<void>;
  /** Appends events (contiguous, in order); `ended` marks the last batch. */
  append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void>;
  /** Events after `afterSeq`; `undefined` when the answer is unknown or expired. */
  read(requestId: string, afterSeq: number): Promise<LogRead | undefined>;
  /** The latest answer of a session, if it is still in the log. */
  latest(sessionId: string): Promise<string | undefined>;
  /** Asks whichever instance runs the answer to stop it. */
  requestCancel(requestId: string): Promise<void>;
  /** True once {@link requestCancel} was called for the answer. */
  isCancelRequested(requestId: string): Promise<boolean>;
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
}

/** Everything instances share, from one engine. */
export interface Backend {
  /** "kv" | "sqlite" | "memory" | "redis" */
  readonly name: string;
  readonly history: SessionStore;
  readonly streamLog: StreamLog;
  readonly uploads: UploadStore;
  /** Releases the engine (idempotent). */
  close(): Promise<void>;
}
