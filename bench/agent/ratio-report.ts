/**
 * What the datapath benchmarks share: the percentiles they report, the D A A D quad order of attached and
 * detached blocks, and how a ratio with its interval is printed and judged against a target.
 */
import type { Interval } from "./bootstrap";

export const PERCENTILES = [0.5, 0.9, 0.99, 0.999];
export const PERCENTILE_NAMES = ["p50", "p90", "p99", "p99.9"];
export const P99 = 2;
/** Lets the daemon finish starting (module loading, first timers) before a block is timed. */
export const AGENT_SETTLE_MS = 500;

export type Arm = "attached" | "detached1" | "detached2";
/** Quads alternate between these orders: a linear drift cancels, and D2/D1 is an A/A control. */
export const QUAD_ORDERS: Arm[][] = [
  ["detached1", "attached", "attached", "detached2"],
  ["detached2", "attached", "attached", "detached1"],
];

/** "p50 1.012 [1.004, 1.020]  p90 ..." for each named column. */
export function formatRatios(names: readonly string[], values: readonly number[], intervals: readonly Interval[]): string {
  return names.map((name, i) => `${name} ${values[i].toFixed(3)} [${intervals[i].low.toFixed(3)}, ${intervals[i].high.toFixed(3)}]`).join("  ");
}

/** Whether a ratio meets its target (at most or at least), by its estimate and its 95% interval. */
export function verdict(name: string, value: number, interval: Interval, target: number, atMost: boolean): string {
  const ok = (v: number) => (atMost ? v <= target : v >= target);
  const bound = atMost ? "at most" : "at least";
  if (ok(interval.high) && ok(interval.low)) return `${name} ${value.toFixed(3)}: target (${bound} ${target}) met, the whole 95% interval is on the right side`;
  if (!ok(interval.high) && !ok(interval.low)) return `${name} ${value.toFixed(3)}: target (${bound} ${target}) missed, the whole 95% interval is on the wrong side`;
  return `${name} ${value.toFixed(3)}: target (${bound} ${target}) ${ok(value) ? "met by the estimate" : "missed by the estimate"}, but the 95% interval straddles it`;
}
