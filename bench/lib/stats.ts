/**
 * Statistics of bench samples: nearest-rank percentiles, summaries, the
 * geometric mean of ratios, and a cheap log histogram for load generators.
 * @module
 */

/** p-th percentile (0-100) of an already sorted array, nearest-rank. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Summary statistics of a sample set, in the sample's unit. */
export interface Stats {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Computes {@link Stats} (sorts a copy). */
export function stats(values: ArrayLike<number>): Stats {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    p50: percentileSorted(sorted, 50),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Geometric mean (the mean of ratios); NaN for none. */
export function geomean(xs: number[]): number {
  return xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : NaN;
}

/** A log-bucketed histogram (≈1% resolution) of non-negative ms values. */
export class Histogram {
  #buckets = new Float64Array(2400);
  #count = 0;
  #max = 0;
  static #LOG = Math.log(1.01);
  /** Counts one value (negative values count as 0). */
  add(ms: number): void {
    const us = ms > 0 ? ms * 1000 : 0;
    let i = Math.floor(Math.log1p(us) / Histogram.#LOG);
    if (i >= 2400) i = 2399;
    this.#buckets[i]++;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }
  /** Number of values. */
  get count(): number {
    return this.#count;
  }
  /** Upper edge of the bucket holding the p-th percentile, in ms. */
  percentile(p: number): number {
    if (this.#count === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.#count);
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i];
      if (seen >= rank) {
        return Math.min(this.#max, Math.expm1((i + 1) * Histogram.#LOG) / 1000);
      }
    }
    return this.#max;
  }
  /** p50/p95/p99/max summary. */
  summary(): { p50: number; p95: number; p99: number; max: number } {
    return {
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.#count ? this.#max : NaN,
    };
  }
}
