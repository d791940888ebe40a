/**
 * The {@link QuotaStore} in Deno KV: every bucket, slot set and single-use
 * mark is one value, updated with an atomic check on its versionstamp, so
 * every process on the database (Deno Deploy isolates, local processes on
 * one file) draws from the same budget.
 *
 * Keys: `["quota", "bucket", key]` {@link BucketState} (expires when full
 * again), `["quota", "slots", key]` slot name to deadline,
 * `["quota", "once", key]` a single-use mark.
 * @module
 */
import { whenUnlocked } from "./kv_open.ts";
import { acquireSlot, type BucketState, bucketTtlMs, takeTokens } from "./quota.ts";
import type { BucketRule, QuotaDecision, QuotaStore } from "./types.ts";

const MAX_ATTEMPTS = 40;

/** Waits a little, more on each attempt, with jitter so contending writers spread out. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(100, 2 + attempt * 5) * (0.5 + Math.random());
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * True for the error SQLite gives a process while another one writes the
 * same local file (several processes on one `KV_PATH`): worth retrying.
 */
function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|busy/i.test(error.message);
}

/** A {@link QuotaStore} over an open KV database. */
export class KvQuotaStore implements QuotaStore {
  #kv: Deno.Kv;

  /** Wraps an open KV database. */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /**
   * Reads `key`, computes the update (`null` deletes, `undefined` writes
   * nothing) and commits it checked; retries when another writer won or
   * another process held the file.
   */
  async #update<T, R>(
    key: Deno.KvKey,
    change: (value: T | null) => { result: R; value: T | null | undefined; expireIn?: number },
  ): Promise<R> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        const current = await this.#kv.get<T>(key);
        const { result, value, expireIn } = change(current.value);
        // `undefined`: nothing to write.
        if (value === undefined) return result;
        const op = this.#kv.atomic().check(current);
        if (value === null) op.delete(key);
        else op.set(key, value, { expireIn });
        if ((await whenUnlocked(() => op.commit())).ok) return result;
      } catch (error) {
        if (!isLocked(error) || attempt === MAX_ATTEMPTS - 1) throw error;
      }
      await backoff(attempt);
    }
    throw new Error(`Cannot update quota: "${key.join("/")}" kept changing`);
  }

  take(key: string, cost: number, rule: BucketRule): Promise<QuotaDecision> {
    return this.#update<BucketState, QuotaDecision>(["quota", "bucket", key], (value) => {
      const { decision, state } = takeTokens(value ?? undefined, cost, rule, Date.now());
      return { result: decision, value: state, expireIn: bucketTtlMs(state, rule) };
    });
  }

  acquire(
    key: string,
    slot: string,
    options: { limit: number; ttlMs: number },
  ): Promise<QuotaDecision> {
    return this.#update<Record<string, number>, QuotaDecision>(["quota", "slots", key], (value) => {
      const { decision, slots } = acquireSlot(value ?? {}, slot, options, Date.now());
      return { result: decision, value: slots, expireIn: options.ttlMs };
    });
  }

  async release(key: string, slot: string): Promise<void> {
    await this.#update<Record<string, number>, void>(["quota", "slots", key], (value) => {
      if (!value) return { result: undefined, value: null };
      const { [slot]: _released, ...rest } = value;
      const deadline = Math.max(0, ...Object.values(rest));
      return Object.keys(rest).length === 0
        ? { result: undefined, value: null }
        : { result: undefined, value: rest, expireIn: Math.max(1, deadline - Date.now()) };
    });
  }

  once(key: string, ttlMs: number): Promise<boolean> {
    // A mark is only ever set, never changed: the update succeeds once.
    return this.#update<boolean, boolean>(
      ["quota", "once", key],
      (value) =>
        value === null
          ? { result: true, value: true, expireIn: ttlMs }
          : { result: false, value: undefined },
    );
  }
}
