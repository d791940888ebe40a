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
  /** Releases the store. */
  close(): void;
}
