/**
 * Abortable waiting, and bounds on how long work may take.
 * @module
 */
import { DeadlineQueue } from "./shared_timers.ts";

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
 * dropped). Bounds of the same length share one timer (see `shared_timers.ts`):
 * this runs for every store call of every answer.
 */
export function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const deadline = DeadlineQueue.of(ms).add(() =>
    reject(new Error(`Cannot ${what}: no answer within ${ms} ms`))
  );
  work.then((value) => {
    deadline.cancel();
    resolve(value);
  }, (error) => {
    deadline.cancel();
    reject(error);
  });
  return promise;
}
