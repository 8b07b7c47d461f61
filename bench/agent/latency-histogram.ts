/**
 * Latency histograms as bench/agent/tools/rr.c writes them: HDR-like buckets over nanoseconds (values below
 * 2^BITS exact, larger ones with BITS significant bits), so blocks pool by adding counts and a percentile of
 * the pool is exact to within one bucket (at most 0.2% of the value).
 */
const BITS = 10;
const HALF = 1 << (BITS - 1);
export const BUCKETS = (64 - BITS + 2) * HALF;

/** The value a bucket stands for: its midpoint, in nanoseconds. */
export function bucketValueNs(bucket: number): number {
  if (bucket < 1 << BITS) return bucket;
  const shift = Math.floor(bucket / HALF) - 1;
  const lower = (bucket - shift * HALF) * 2 ** shift;
  return lower + (2 ** shift - 1) / 2;
}

/** The non-empty buckets of one measurement, ascending. */
export interface SparseHistogram {
  readonly count: number;
  readonly buckets: Uint32Array;
  readonly counts: Float64Array;
}

/** Parses rr's "<count> <bucket>:<n> ..." line; `where` names the source in the error. */
export function parseHistogram(line: string, where: string): SparseHistogram {
  const [head, ...pairs] = line.trim().split(" ");
  const count = Number(head);
  const buckets = new Uint32Array(pairs.length);
  const counts = new Float64Array(pairs.length);
  let sum = 0;
  pairs.forEach((pair, i) => {
    const m = /^(\d+):(\d+)$/.exec(pair);
    if (!m || Number(m[1]) >= BUCKETS || (i > 0 && Number(m[1]) <= buckets[i - 1])) {
      throw new Error(`${where}: bad histogram entry "${pair}"; rebuild bench/agent/tools/rr.c (delete bench/results/agent/bin/rr)`);
    }
    buckets[i] = Number(m[1]);
    counts[i] = Number(m[2]);
    sum += counts[i];
  });
  if (!Number.isInteger(count) || count === 0 || sum !== count) {
    throw new Error(`${where}: histogram of ${head} requests holds ${sum}; expected a non-zero count that matches`);
  }
  return { count, buckets, counts };
}

/** Counts pooled over many sparse histograms; reusable across pools with reset(). */
export class PooledHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private lowest = BUCKETS;
  private highest = -1;
  count = 0;

  add(h: SparseHistogram): this {
    for (let i = 0; i < h.buckets.length; i++) this.counts[h.buckets[i]] += h.counts[i];
    if (h.buckets.length > 0) {
      this.lowest = Math.min(this.lowest, h.buckets[0]);
      this.highest = Math.max(this.highest, h.buckets[h.buckets.length - 1]);
    }
    this.count += h.count;
    return this;
  }

  reset(): this {
    if (this.highest >= 0) this.counts.fill(0, this.lowest, this.highest + 1);
    this.lowest = BUCKETS;
    this.highest = -1;
    this.count = 0;
    return this;
  }

  /** Nearest-rank percentiles (q ascending, each in (0, 1]), in nanoseconds. */
  percentilesNs(qs: number[]): number[] {
    const out: number[] = [];
    let seen = 0;
    let k = 0;
    for (let b = this.lowest; b <= this.highest && k < qs.length; b++) {
      seen += this.counts[b];
      while (k < qs.length && seen >= Math.ceil(qs[k] * this.count)) out[k++] = bucketValueNs(b);
    }
    if (k < qs.length) throw new Error(`percentiles of an empty histogram (${qs.length - k} of ${qs.length} unanswered)`);
    return out;
  }
}
