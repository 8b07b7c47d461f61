// Latency summaries: exact percentiles over all recorded samples (nearest rank).

export interface LatencySummary { count: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number }

export function summarize(latenciesUs: number[]): LatencySummary {
  const sorted = Float64Array.from(latenciesUs).sort();
  const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] / 1000);
  return { count: sorted.length, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1) };
}
