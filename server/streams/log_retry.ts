/**
 * Stream-log writes that try again (the producer's writes, a cancel, a
 * seal): a store that failed for a moment (a dropped connection, a busy
 * engine, a shared KV file locked by another process for longer than its
 * own retries last) gets a second and third try before the answer's readers
 * are told its log is lost. Every retried write is idempotent (an append
 * written again after a lost reply reads once).
 * @module
 */
import { retry } from "../retry.ts";

/** Attempts at one stream-log write (the start of the log, a batch, the seal). */
export const LOG_ATTEMPTS = 3;

/** Pause before the next attempt, times the attempt number. */
const LOG_RETRY_MS = 50;

/** Runs `write`, again after a pause when it fails, at most {@link LOG_ATTEMPTS} times. */
export function retried<T>(write: () => Promise<T>): Promise<T> {
  return retry(write, { attempts: LOG_ATTEMPTS, pauseMs: (attempt) => LOG_RETRY_MS * attempt });
}
