/**
 * Percentile bootstrap over independent units (here: runs of adjacent benchmark blocks), so an interval
 * reflects the drift and bursts that move whole blocks, not only the spread within one.
 */

/** Deterministic generator (mulberry32): the same run data gives the same interval. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Interval {
  low: number;
  high: number;
}

/**
 * For each component of `statistic`, its central `level` interval over `resamples` draws of units.length
 * units with replacement.
 */
export function bootstrapIntervals<T>(
  units: readonly T[],
  statistic: (sample: readonly T[]) => number[],
  { resamples = 1000, level = 0.95, seed = 1 }: { resamples?: number; level?: number; seed?: number } = {},
): Interval[] {
  if (units.length < 2) throw new Error(`bootstrap needs at least 2 units, got ${units.length}; run more blocks`);
  const random = seededRandom(seed);
  const sample: T[] = new Array(units.length);
  const columns: Float64Array[] = [];
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < units.length; i++) sample[i] = units[Math.floor(random() * units.length)];
    statistic(sample).forEach((v, j) => ((columns[j] ??= new Float64Array(resamples))[r] = v));
  }
  const at = (sorted: Float64Array, q: number) => sorted[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return columns.map((c) => {
    c.sort();
    return { low: at(c, (1 - level) / 2), high: at(c, (1 + level) / 2) };
  });
}
