/**
 * Ratios paired within a unit of adjacent blocks (a D A A D quad): each unit gives its own ratio of the
 * attached blocks' statistic to the detached blocks', and the estimate is the geometric mean over units.
 * A round trip that switches modes for a few seconds, or a machine that drifts, then moves both sides of
 * the units it strikes instead of the whole pool of one side.
 */
import { bootstrapIntervals, type Interval } from "./bootstrap";

/** The geometric mean of each column of `rows` (every row one unit's ratios, all positive). */
export function geometricMeans(rows: readonly (readonly number[])[]): number[] {
  if (rows.length === 0) throw new Error("a geometric mean needs at least one unit");
  const width = rows[0].length;
  const logSums = new Float64Array(width);
  for (const row of rows) {
    if (row.length !== width) throw new Error(`unit ratios of different lengths (${row.length} and ${width})`);
    row.forEach((v, j) => {
      if (!(v > 0) || !Number.isFinite(v)) throw new Error(`ratio ${v} of column ${j} is not a positive number`);
      logSums[j] += Math.log(v);
    });
  }
  return Array.from(logSums, (s) => Math.exp(s / rows.length));
}

/** The paired estimate of every column and its 95% bootstrap interval over units. */
export function pairedRatios(unitRatios: readonly (readonly number[])[], resamples: number): { values: number[]; intervals: Interval[] } {
  return {
    values: geometricMeans(unitRatios),
    intervals: bootstrapIntervals(unitRatios, geometricMeans, { resamples }),
  };
}
