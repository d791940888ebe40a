/**
 * The contract of the session store.
 * @module
 */
import type { Turn } from "../agents/types.ts";

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
