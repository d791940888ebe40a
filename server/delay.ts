/**
 * Abortable waiting.
 * @module
 */

/**
 * Waits `ms` milliseconds. Resolves `true` when the time passed and `false`
 * as soon as `signal` aborts (never rejects).
 */
export function delay(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles as `work` does, or rejects with `Cannot <what>: no answer within
 * <ms> ms` once `ms` passed first (the work itself goes on; its outcome is
 * dropped).
 */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  const stop = new AbortController();
  const late = delay(ms, stop.signal).then((passed) => {
    if (passed) throw new Error(`Cannot ${what}: no answer within ${ms} ms`);
    return undefined as never;
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    stop.abort();
  }
}
