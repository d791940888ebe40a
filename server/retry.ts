/**
 * Runs an operation again after a pause when it fails, a bounded number of
 * times.
 * @module
 */
import { delay } from "./delay.ts";

/** How {@link retry} tries again. */
export interface RetryOptions {
  /** Tries in all (the last failure is thrown). */
  attempts: number;
  /** The pause after failed attempt `attempt` (from 1), in ms. */
  pauseMs(attempt: number): number;
  /** Whether `error` is worth another try; default: every error. */
  retryable?(error: unknown): boolean;
}

/** Runs `operation`, again after a pause while it fails, at most `options.attempts` times. */
export async function retry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= options.attempts || options.retryable?.(error) === false) throw error;
      await delay(options.pauseMs(attempt));
    }
  }
}
