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
