/**
 * Bounds a wait in a test: a hang becomes a failure with a message instead
 * of a stuck suite (a liveness bound, not a timing assertion).
 * @module
 */

/** Resolves with the elapsed ms once `promise` settles, or rejects after `ms`. */
export async function within(promise: Promise<unknown>, ms: number, what: string): Promise<number> {
  const start = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error(`Timed out: ${what} after ${ms} ms`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - start;
}

/**
 * Polls `check` (every `intervalMs`, default 50) until it returns true;
 * rejects naming `what` when it still is not after `timeoutMs`. A bounded
 * wait for something that happens eventually (an expiry), not a timing
 * assertion.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out: ${options.what} after ${options.timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
