// Latency summaries (exact percentiles over all recorded samples, nearest
// rank) and the paired statistics of the two-copy comparison: per block, the
// same requests went to the observed copy and to the unobserved one at the
// same instants. From them: the geometric mean of the blocks' own p99 ratios
// (the primary estimator), the ratio of the two copies' pooled percentile,
// the percentiles of the per-pair difference, each with a bootstrap interval
// that resamples whole blocks, and the verdict against a target.

export interface LatencySummary { count: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number }

function at(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export function summarize(latenciesUs: number[]): LatencySummary {
  const sorted = Float64Array.from(latenciesUs).sort();
  return { count: sorted.length, p50Ms: at(sorted, 0.5) / 1000, p90Ms: at(sorted, 0.9) / 1000, p99Ms: at(sorted, 0.99) / 1000, maxMs: at(sorted, 1) / 1000 };
}

/**
 * One block's paired latencies (µs), index i of both arrays being the same
 * request sent to both copies at the same scheduled instant; -1 marks a
 * request that failed.
 */
export interface PairedBlock {
  /** Which copy was observed (0 or 1). Resamples draw blocks within each, so both stay observed alike. */
  stratum: number;
  observed: number[];
  unobserved: number[];
}

/** A statistic with its 95% percentile-bootstrap interval. */
export interface Interval { value: number; lo: number; hi: number; resamples: number }

function pooledQuantile(parts: number[][], q: number): number {
  const pooled = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    pooled.set(p, o);
    o += p.length;
  }
  return at(pooled.sort(), q);
}

const succeeded = (xs: number[]) => xs.filter((x) => x >= 0);

/** Observed minus unobserved latency of each pair in which both requests succeeded. */
export function pairDifferences(b: PairedBlock): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(b.observed.length, b.unobserved.length); i++) {
    if (b.observed[i] >= 0 && b.unobserved[i] >= 0) out.push(b.observed[i] - b.unobserved[i]);
  }
  return out;
}

/**
 * `statistic` over `blocks` with a 95% percentile-bootstrap interval: each
 * resample draws, within each stratum (observed copy), as many blocks as it
 * has, with replacement. Blocks are the unit because a stall of the machine
 * ties the samples of one block together.
 */
export function bootstrap<B extends { stratum: number }>(blocks: B[], statistic: (picked: B[]) => number, resamples = 2000, seed = 1): Interval {
  if (blocks.length === 0) throw new Error("bootstrap needs at least one block of paired samples");
  const strata = [...new Set(blocks.map((b) => b.stratum))].map((s) => blocks.filter((b) => b.stratum === s));
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) values[r] = statistic(strata.flatMap((s) => s.map(() => s[Math.floor(next() * s.length)])));
  values.sort();
  return { value: statistic(blocks), lo: at(values, 0.025), hi: at(values, 0.975), resamples };
}

/**
 * Fewest pairs in which both requests succeeded that a block needs for its own
 * p99: with the nearest rank, 200 samples leave two above the p99, so it is
 * not simply a block's maximum (below 100 samples it would be).
 */
export const MIN_PAIRS_PER_BLOCK = 200;

/** Latencies of the pairs in which both requests succeeded, per copy, so both percentiles cover the same requests. */
export function succeededPairs(b: PairedBlock): { observed: number[]; unobserved: number[] } {
  const observed: number[] = [], unobserved: number[] = [];
  for (let i = 0; i < Math.min(b.observed.length, b.unobserved.length); i++) {
    if (b.observed[i] >= 0 && b.unobserved[i] >= 0) {
      observed.push(b.observed[i]);
      unobserved.push(b.unobserved[i]);
    }
  }
  return { observed, unobserved };
}

/** A geometric-mean ratio with its interval, and the blocks left out for too few succeeded pairs. */
export interface BlockRatioInterval extends Interval { blocks: number; tooFewPairs: number }

/**
 * The geometric mean over blocks of each block's own q-quantile ratio
 * (observed copy over unobserved copy, over the pairs in which both
 * succeeded), with the stratified whole-block interval. Every block weighs
 * the same, and a stall that slows both copies of a block alike leaves that
 * block's ratio unchanged, where a pooled quantile would be set by the few
 * slowest blocks. Blocks with fewer than MIN_PAIRS_PER_BLOCK succeeded pairs
 * have no meaningful quantile of their own and are counted, not used (when
 * no block has enough, the value and interval are NaN).
 */
export function blockRatioInterval(blocks: PairedBlock[], q: number, resamples = 2000, seed = 1): BlockRatioInterval {
  const logs: { stratum: number; log: number }[] = [];
  for (const b of blocks) {
    const pairs = succeededPairs(b);
    if (pairs.observed.length < MIN_PAIRS_PER_BLOCK) continue;
    logs.push({ stratum: b.stratum, log: Math.log(pooledQuantile([pairs.observed], q) / pooledQuantile([pairs.unobserved], q)) });
  }
  if (blocks.length === 0) throw new Error("bootstrap needs at least one block of paired samples");
  return geometricMeanInterval(logs, blocks.length, resamples, seed);
}

/** exp of the mean of `logs` with its bootstrap interval; `offered` of which the rest were left out. */
function geometricMeanInterval(logs: { stratum: number; log: number }[], offered: number, resamples: number, seed: number): BlockRatioInterval {
  if (logs.length === 0) return { value: NaN, lo: NaN, hi: NaN, resamples: 0, blocks: 0, tooFewPairs: offered };
  const interval = bootstrap(logs, (picked) => Math.exp(picked.reduce((n, b) => n + b.log, 0) / picked.length), resamples, seed);
  return { ...interval, blocks: logs.length, tooFewPairs: offered - logs.length };
}

/** One copy's latencies in a tested block and in the none block of the same cycle (µs, -1 for a failure). */
export interface CyclePair { tested: number[]; control: number[] }

/**
 * What a configuration costs the whole machine, which the paired ratio cancels: the geometric mean over cycles
 * of one copy's q-quantile in the tested block over its q-quantile in the none block of the same cycle, with a
 * bootstrap over cycles. The two blocks ran one after the other, not at once, so drift and stalls between them
 * stay in it; cycles where either block has fewer than MIN_PAIRS_PER_BLOCK successes are counted and left out.
 */
export function crossBlockRatioInterval(cycles: CyclePair[], q: number, resamples = 2000, seed = 1): BlockRatioInterval {
  const logs: { stratum: number; log: number }[] = [];
  for (const c of cycles) {
    const tested = succeeded(c.tested), control = succeeded(c.control);
    if (tested.length < MIN_PAIRS_PER_BLOCK || control.length < MIN_PAIRS_PER_BLOCK) continue;
    logs.push({ stratum: 0, log: Math.log(pooledQuantile([tested], q) / pooledQuantile([control], q)) });
  }
  return geometricMeanInterval(logs, cycles.length, resamples, seed);
}

/** Pooled q-quantile of the observed copy over that of the unobserved copy, with its interval. */
export function ratioInterval(blocks: PairedBlock[], q: number, resamples = 2000, seed = 1): Interval {
  const ok = blocks.map((b) => ({ stratum: b.stratum, observed: succeeded(b.observed), unobserved: succeeded(b.unobserved) }));
  return bootstrap(ok, (picked) => pooledQuantile(picked.map((b) => b.observed), q) / pooledQuantile(picked.map((b) => b.unobserved), q), resamples, seed);
}

/** The q-quantile of the per-pair difference (observed minus unobserved, µs), with its interval. */
export function differenceInterval(blocks: PairedBlock[], q: number, resamples = 2000, seed = 1): Interval {
  const diffs = blocks.map((b) => ({ stratum: b.stratum, d: pairDifferences(b) }));
  return bootstrap(diffs, (picked) => pooledQuantile(picked.map((b) => b.d), q), resamples, seed);
}

export type VerdictKind = "shown" | "not shown" | "below resolution";
export interface Verdict { kind: VerdictKind; resolution: number; text: string }

/**
 * Whether `tested` (observed / unobserved ratio) is shown to stay within
 * `target`, given the A/A control `control` (the same ratio where neither
 * copy is observed). The resolution is how far the control's interval reaches
 * from 1. While it reaches as far as the target, no verdict is given either
 * way: noise alone can then put an interval wholly inside or outside the target.
 */
export function verdict(tested: Interval, control: Interval, target: number): Verdict {
  const resolution = Math.max(1 - control.lo, control.hi - 1);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const ci = `95% CI ${tested.lo.toFixed(3)}-${tested.hi.toFixed(3)}`;
  if (resolution >= target - 1) {
    return { kind: "below resolution", resolution, text: `below the resolution of the instrument: the A/A control (copy against copy, neither observed) spans ±${pct(resolution)}, not less than the ${pct(target - 1)} to resolve, so ${ci} decides nothing` };
  }
  if (tested.hi <= target) return { kind: "shown", resolution, text: `shown: ${ci} lies within ${target}, and the A/A control resolves ±${pct(resolution)}` };
  if (tested.lo > target) return { kind: "not shown", resolution, text: `not shown: ${ci} lies above ${target}` };
  return { kind: "not shown", resolution, text: `not shown: ${ci} straddles ${target} although the A/A control resolves ±${pct(resolution)}; more blocks would decide it` };
}
