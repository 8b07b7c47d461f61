// Latency summaries (exact percentiles over all recorded samples, nearest
// rank), a bootstrap confidence interval for the ratio of two arms' percentile
// that resamples whole cycles of blocks, and the verdict against a target.

export interface LatencySummary { count: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number }

function at(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export function summarize(latenciesUs: number[]): LatencySummary {
  const sorted = Float64Array.from(latenciesUs).sort();
  return { count: sorted.length, p50Ms: at(sorted, 0.5) / 1000, p90Ms: at(sorted, 0.9) / 1000, p99Ms: at(sorted, 0.99) / 1000, maxMs: at(sorted, 1) / 1000 };
}

function pooledQuantile(blocks: number[][], picks: number[], q: number): number {
  const pooled = new Float64Array(picks.reduce((n, i) => n + blocks[i].length, 0));
  let o = 0;
  for (const i of picks) {
    pooled.set(blocks[i], o);
    o += blocks[i].length;
  }
  return at(pooled.sort(), q);
}

export interface RatioInterval { ratio: number; lo: number; hi: number; resamples: number }

/**
 * Ratio of the q-quantile of arm B's pooled samples to arm A's, with a 95%
 * percentile-bootstrap interval. `a[i]` and `b[i]` are the samples of cycle
 * i; a resample draws whole cycles with replacement, so each keeps the two
 * arms' blocks paired in time (the ABBA order that cancels drift).
 */
export function ratioInterval(a: number[][], b: number[][], q: number, resamples = 2000, seed = 1): RatioInterval {
  if (a.length !== b.length || a.length === 0) throw new Error(`ratioInterval needs the same non-zero number of cycles per arm (got ${a.length} and ${b.length})`);
  const all = a.map((_, i) => i);
  const ratio = pooledQuantile(b, all, q) / pooledQuantile(a, all, q);
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const picks = all.map(() => Math.floor(next() * all.length));
    ratios[r] = pooledQuantile(b, picks, q) / pooledQuantile(a, picks, q);
  }
  ratios.sort();
  return { ratio, lo: at(ratios, 0.025), hi: at(ratios, 0.975), resamples };
}

export type VerdictKind = "shown" | "not shown" | "below resolution";
export interface Verdict { kind: VerdictKind; resolution: number; text: string }

/**
 * Whether `tested` (B/A ratio) is shown to stay within `target`, given the
 * A/A control `control` (two arms of the same configuration). The
 * resolution is how far the control's interval reaches from 1. While it
 * reaches further than the target, no verdict is given either way: noise
 * alone can then put an arm's interval wholly inside or outside the target.
 */
export function verdict(tested: RatioInterval, control: RatioInterval, target: number): Verdict {
  const resolution = Math.max(1 - control.lo, control.hi - 1);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const ci = `95% CI ${tested.lo.toFixed(3)}-${tested.hi.toFixed(3)}`;
  if (resolution >= target - 1) {
    return { kind: "below resolution", resolution, text: `below the resolution of the instrument: the A/A control (none vs none) spans ±${pct(resolution)}, more than the ${pct(target - 1)} to resolve, so ${ci} decides nothing` };
  }
  if (tested.hi <= target) return { kind: "shown", resolution, text: `shown: ${ci} lies within ${target}, and the A/A control resolves ±${pct(resolution)}` };
  if (tested.lo > target) return { kind: "not shown", resolution, text: `not shown: ${ci} lies above ${target}` };
  return { kind: "not shown", resolution, text: `not shown: ${ci} straddles ${target} although the A/A control resolves ±${pct(resolution)}; more cycles would decide it` };
}
