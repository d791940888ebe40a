/**
 * Reconnect delays: exponential backoff with full jitter.
 * @module
 */

/** Options for {@link backoffDelay}. */
export interface BackoffOptions {
  /** Delay cap of the first retry, in ms. Default 250. */
  baseMs?: number;
  /** Largest delay cap, in ms. Default 10 000. */
  maxMs?: number;
  /** A source of numbers in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): a uniform
 * random value in `[0, min(maxMs, baseMs * 2 ** attempt))` ("full jitter"),
 * so many clients dropped at once do not reconnect in lockstep.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
): number {
  const { baseMs = 250, maxMs = 10_000, random = Math.random } = options;
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.floor(random() * cap);
}
