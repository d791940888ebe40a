/**
 * The token-bucket and slot arithmetic every {@link QuotaStore} shares
 * (Redis does the same in its Lua scripts), and the in-memory quota store.
 * @module
 */
import type { BucketRule, QuotaDecision, QuotaStore } from "./types.ts";

/** A bucket as stored: its tokens at time `at` (epoch ms). */
export interface BucketState {
  tokens: number;
  at: number;
}

/** Takes `cost` tokens from `state` (or a full bucket) at `now`; returns the decision and the new state. */
export function takeTokens(
  state: BucketState | undefined,
  cost: number,
  rule: BucketRule,
  now: number,
): { decision: QuotaDecision; state: BucketState } {
  const elapsedS = state ? Math.max(0, now - state.at) / 1000 : 0;
  const tokens = state
    ? Math.min(rule.capacity, state.tokens + elapsedS * rule.refillPerSecond)
    : rule.capacity;
  if (tokens >= cost) {
    return { decision: { ok: true, retryAfterMs: 0 }, state: { tokens: tokens - cost, at: now } };
  }
  const missing = Math.min(cost, rule.capacity) - tokens;
  const retryAfterMs = cost > rule.capacity || rule.refillPerSecond <= 0
    ? Number.MAX_SAFE_INTEGER
    : Math.ceil((missing / rule.refillPerSecond) * 1000);
  return { decision: { ok: false, retryAfterMs }, state: { tokens, at: now } };
}

/** How long a bucket must be kept: until it would be full again. */
export function bucketTtlMs(state: BucketState, rule: BucketRule): number {
  if (rule.refillPerSecond <= 0) return 86_400_000;
  const ms = ((rule.capacity - state.tokens) / rule.refillPerSecond) * 1000;
  return Math.max(1_000, Math.ceil(ms) + 1_000);
}

/** Drops lapsed slots (deadline in the past) and tries to add `slot`. */
export function acquireSlot(
  slots: Record<string, number>,
  slot: string,
  options: { limit: number; ttlMs: number },
  now: number,
): { decision: QuotaDecision; slots: Record<string, number> } {
  const live = Object.fromEntries(Object.entries(slots).filter(([, until]) => until > now));
  if (slot in live || Object.keys(live).length < options.limit) {
    live[slot] = now + options.ttlMs;
    return { decision: { ok: true, retryAfterMs: 0 }, slots: live };
  }
  const soonest = Math.min(...Object.values(live));
  return { decision: { ok: false, retryAfterMs: Math.max(1, soonest - now) }, slots: live };
}

/** A {@link QuotaStore} in process memory (one instance). */
export class MemoryQuotaStore implements QuotaStore {
  #buckets = new Map<string, BucketState & { until: number }>();
  #slots = new Map<string, Record<string, number>>();
  #marks = new Map<string, number>();

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.until <= now) this.#buckets.delete(key);
    for (const [key, until] of this.#marks) if (until <= now) this.#marks.delete(key);
  }

  take(key: string, cost: number, rule: BucketRule): Promise<QuotaDecision> {
    const now = Date.now();
    this.#sweep(now);
    const { decision, state } = takeTokens(this.#buckets.get(key), cost, rule, now);
    this.#buckets.set(key, { ...state, until: now + bucketTtlMs(state, rule) });
    return Promise.resolve(decision);
  }

  acquire(
    key: string,
    slot: string,
    options: { limit: number; ttlMs: number },
  ): Promise<QuotaDecision> {
    const { decision, slots } = acquireSlot(this.#slots.get(key) ?? {}, slot, options, Date.now());
    this.#slots.set(key, slots);
    return Promise.resolve(decision);
  }

  release(key: string, slot: string): Promise<void> {
    const slots = this.#slots.get(key);
    if (slots) {
      delete slots[slot];
      if (Object.keys(slots).length === 0) this.#slots.delete(key);
    }
    return Promise.resolve();
  }

  once(key: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    this.#sweep(now);
    if (this.#marks.has(key)) return Promise.resolve(false);
    this.#marks.set(key, now + ttlMs);
    return Promise.resolve(true);
  }
}
