// The benchmark's block order and statistics, checked without building a lab:
// the mirrored (ABBA) schedule with the observed copy alternating, the paired
// p99 ratios (geometric mean of the blocks' own, and pooled) and per-pair
// difference with their block bootstrap, the options' floor of pairs per
// block, the verdict against the agent's 3% target, and the host CPU readings
// (steal apart).
import { blockSchedule, checkPairsPerBlock, type Config } from "../../bench/mesh/run";
import { coresBetween, hostCpu } from "../../bench/mesh/resources";
import { blockRatioInterval, crossBlockRatioInterval, differenceInterval, MIN_PAIRS_PER_BLOCK, pairDifferences, ratioInterval, succeededPairs, verdict, type PairedBlock } from "../../bench/mesh/stats";

/** Deterministic pseudo-random latencies (µs) around `scale`, with a long tail. */
function samples(n: number, scale: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(scale * -Math.log(1 - s / 2147483648));
  });
}

/**
 * Blocks as the machine makes them: a stall that differs from block to block
 * by a factor of up to 30 strikes both members of every pair alike, plus each
 * copy's own small independent noise; `slower` scales the observed copy's own part.
 */
function stalledBlocks(n: number, slower = 1): PairedBlock[] {
  return Array.from({ length: n }, (_, i) => {
    const stall = samples(300, 2_000 * (1 + (i * 7) % 30), i + 1);
    const own = (seed: number) => samples(300, 1_000, seed);
    const a = own(1000 + i), b = own(2000 + i);
    return { stratum: i % 2, observed: stall.map((s, j) => s + a[j] * slower), unobserved: stall.map((s, j) => s + b[j]) };
  });
}

describe("the block schedule", () => {
  const configs: Config[] = ["none", "agent", "sidecar"];

  test("runs every configuration once per cycle and rate, mirrored on odd cycles", () => {
    const blocks = blockSchedule(configs, [25], 2);
    expect(blocks.map((b) => b.config)).toEqual(["none", "agent", "sidecar", "sidecar", "agent", "none"]);
    expect(blocks.map((b) => b.cycle)).toEqual([0, 0, 0, 1, 1, 1]);
  });

  test("puts copy A, B, B, A under the configurations over four cycles, so each copy is observed alike", () => {
    const blocks = blockSchedule(configs, [25], 8);
    expect(blocks.filter((b) => b.config === "agent").map((b) => b.observed)).toEqual([0, 1, 1, 0, 0, 1, 1, 0]);
    for (const config of configs) {
      const mine = blocks.map((b, i) => ({ ...b, i })).filter((b) => b.config === config);
      const meanPosition = (copy: number) => mine.filter((b) => b.observed === copy).reduce((n, b) => n + b.i, 0) / 4;
      expect(meanPosition(0)).toBeCloseTo(meanPosition(1), 9);
    }
  });

  test("gives every configuration the same mean position over each pair of cycles, so linear drift cancels", () => {
    const blocks = blockSchedule(configs, [10, 25], 4);
    for (const rate of [10, 25]) {
      const at = blocks.map((b, i) => ({ ...b, i })).filter((b) => b.rate === rate);
      const meanPosition = (config: Config) => at.filter((b) => b.config === config).reduce((n, b) => n + b.i, 0) / 4;
      for (const config of configs) expect(meanPosition(config)).toBeCloseTo(meanPosition("none"), 9);
    }
  });
});

describe("the paired statistics", () => {
  test("pair each request with its twin and leave out pairs with a failed member", () => {
    expect(pairDifferences({ stratum: 0, observed: [10, 20, -1, 40], unobserved: [8, -1, 30, 45] })).toEqual([2, -5]);
  });

  test("resolve a few percent when a common stall swamps every block's own p99", () => {
    const r = ratioInterval(stalledBlocks(20), 0.99, 500);
    expect(r.lo).toBeLessThan(1);
    expect(r.hi).toBeGreaterThan(1);
    expect(r.hi - r.lo).toBeLessThan(0.06);
  });

  test("find the observed copy's extra latency in the paired difference, which the stall does not reach", () => {
    const same = differenceInterval(stalledBlocks(20), 0.5, 500);
    expect(same.lo).toBeLessThan(0);
    expect(same.hi).toBeGreaterThan(0);
    const slower = differenceInterval(stalledBlocks(20, 1.5), 0.5, 500);
    expect(slower.lo).toBeGreaterThan(0);
    expect(slower.value).toBeGreaterThan(same.value);
  });

  test("exclude 1 from the p99 ratio when the observed copy is 20% slower throughout", () => {
    const blocks = Array.from({ length: 10 }, (_, i) => {
      const base = samples(300, 10_000, i + 1);
      return { stratum: i % 2, observed: base.map((v) => v * 1.2), unobserved: base };
    });
    const r = ratioInterval(blocks, 0.99, 500);
    expect(r.value).toBeCloseTo(1.2, 6);
    expect(r.lo).toBeCloseTo(1.2, 6);
    expect(r.hi).toBeCloseTo(1.2, 6);
  });

  test("leave failed requests out of a copy's percentile", () => {
    const blocks = [{ stratum: 0, observed: [-1, -1, 300, 300], unobserved: [100, 100, 300, 300] }];
    expect(ratioInterval(blocks, 0.5, 10).value).toBe(3);
  });

  test("need samples", () => {
    expect(() => ratioInterval([], 0.99)).toThrow(/at least one block of paired samples/);
  });
});

/** A block of `n` pairs whose observed copy's p99 is `ratio` times the unobserved copy's, scaled by `scale`. */
function blockWithRatio(stratum: number, ratio: number, scale = 1, n = 240): PairedBlock {
  const base = samples(n, 10_000, stratum * 100 + n).map((v) => v * scale);
  return { stratum, observed: base.map((v) => v * ratio), unobserved: base };
}

describe("the geometric mean of the blocks' own p99 ratios", () => {
  test("is the geometric mean of each block's observed p99 over its unobserved p99", () => {
    const r = blockRatioInterval([blockWithRatio(0, 2), blockWithRatio(1, 0.5)], 0.99, 200);
    expect(r.value).toBeCloseTo(1, 9);
    const three = blockRatioInterval([blockWithRatio(0, 1.1), blockWithRatio(1, 1.2), blockWithRatio(0, 1.5)], 0.99, 200);
    expect(three.value).toBeCloseTo(Math.cbrt(1.1 * 1.2 * 1.5), 9);
    expect(three.blocks).toBe(3);
  });

  test("does not move when a stall slows both copies of one block tenfold, where the pooled p99 ratio does", () => {
    const calm = Array.from({ length: 8 }, (_, i) => blockWithRatio(i % 2, 1 + 0.01 * i));
    const stalled = calm.map((b, i) => (i === 3 ? { ...b, observed: b.observed.map((v) => v * 10), unobserved: b.unobserved.map((v) => v * 10) } : b));
    expect(blockRatioInterval(stalled, 0.99, 200).value).toBeCloseTo(blockRatioInterval(calm, 0.99, 200).value, 12);
    expect(ratioInterval(stalled, 0.99, 200).value).toBeCloseTo(1.03, 9);
    expect(ratioInterval(calm, 0.99, 200).value).not.toBeCloseTo(1.03, 3);
  });

  test("has a bootstrap interval that covers its value and resolves a few percent under stalls common to both copies", () => {
    const r = blockRatioInterval(stalledBlocks(20), 0.99, 500);
    expect(r.lo).toBeLessThanOrEqual(r.value);
    expect(r.hi).toBeGreaterThanOrEqual(r.value);
    expect(r.lo).toBeLessThan(1);
    expect(r.hi).toBeGreaterThan(1);
    expect(r.hi - r.lo).toBeLessThan(0.15);
  });

  test("resamples within each observed copy, so a difference between the copies cancels in every resample", () => {
    // Copy 0 observed: ratio 1.1; copy 1 observed: 1/1.1. Equal counts in every resample give exactly 1.
    const blocks = [0, 1, 0, 1, 0, 1].map((stratum) => blockWithRatio(stratum, stratum === 0 ? 1.1 : 1 / 1.1));
    const r = blockRatioInterval(blocks, 0.99, 500);
    expect(r.value).toBeCloseTo(1, 9);
    expect(r.lo).toBeCloseTo(1, 9);
    expect(r.hi).toBeCloseTo(1, 9);
  });

  test("leaves pairs with a failed member out of both copies' p99, so both cover the same requests", () => {
    expect(succeededPairs({ stratum: 0, observed: [10, 20, -1, 40], unobserved: [8, -1, 30, 45] })).toEqual({ observed: [10, 40], unobserved: [8, 45] });
    const b = blockWithRatio(0, 1.2);
    // The observed copy's slowest requests fail: their twins leave the unobserved copy's p99 too.
    const slowest = [...b.observed.keys()].sort((i, j) => b.observed[j] - b.observed[i]).slice(0, 5);
    const failed = { ...b, observed: b.observed.map((v, i) => (slowest.includes(i) ? -1 : v)) };
    expect(blockRatioInterval([failed], 0.99, 10).value).toBeCloseTo(1.2, 9);
  });

  test("counts and leaves out blocks with too few succeeded pairs for a p99 of their own", () => {
    const short = blockWithRatio(1, 3, 1, MIN_PAIRS_PER_BLOCK - 1);
    const r = blockRatioInterval([blockWithRatio(0, 1.1), short], 0.99, 100);
    expect(r.value).toBeCloseTo(1.1, 9);
    expect(r.blocks).toBe(1);
    expect(r.tooFewPairs).toBe(1);
    const none = blockRatioInterval([short], 0.99, 100);
    expect(none.blocks).toBe(0);
    expect(none.value).toBeNaN();
    expect(() => blockRatioInterval([], 0.99)).toThrow(/at least one block of paired samples/);
  });
});

describe("the whole-machine ratio: a copy's p99 in a tested block over the same copy's in the none block of its cycle", () => {
  const cycleWithRatio = (ratio: number, n = 240) => {
    const b = blockWithRatio(0, ratio, 1, n);
    return { tested: b.observed, control: b.unobserved };
  };

  test("is the geometric mean over cycles, so a cost common to both copies shows where the paired ratio cancels it", () => {
    const r = crossBlockRatioInterval([cycleWithRatio(1.1), cycleWithRatio(1.2), cycleWithRatio(1.5)], 0.99, 300);
    expect(r.value).toBeCloseTo(Math.cbrt(1.1 * 1.2 * 1.5), 9);
    expect(r.blocks).toBe(3);
    expect(r.lo).toBeLessThanOrEqual(r.value);
    expect(r.hi).toBeGreaterThanOrEqual(r.value);
    // The same slowdown of both copies in a block leaves the paired ratio at 1.
    const both = blockWithRatio(0, 1);
    const slowed = { ...both, observed: both.observed.map((v) => v * 1.2), unobserved: both.unobserved.map((v) => v * 1.2) };
    expect(blockRatioInterval([slowed], 0.99, 10).value).toBeCloseTo(1, 9);
    expect(crossBlockRatioInterval([{ tested: slowed.unobserved, control: both.unobserved }], 0.99, 10).value).toBeCloseTo(1.2, 9);
  });

  test("leaves out failures and cycles with too few successes on either side, and counts those cycles", () => {
    const thin = cycleWithRatio(3, MIN_PAIRS_PER_BLOCK - 1);
    const withFailures = cycleWithRatio(1.25);
    withFailures.tested = [...withFailures.tested, -1, -1];
    const r = crossBlockRatioInterval([withFailures, thin], 0.99, 100);
    expect(r.value).toBeCloseTo(1.25, 9);
    expect(r.blocks).toBe(1);
    expect(r.tooFewPairs).toBe(1);
    expect(crossBlockRatioInterval([thin], 0.99, 100).value).toBeNaN();
  });
});

describe("the options' floor of pairs per block", () => {
  const defaults = { rates: [20], measureS: 12, hopRate: 100, hopS: 3 };

  test("accepts the default rate and block length, which give 240 pairs per block", () => {
    expect(() => checkPairsPerBlock(defaults)).not.toThrow();
    expect(20 * 12).toBeGreaterThanOrEqual(MIN_PAIRS_PER_BLOCK);
  });

  test("refuses a rate and measure that give a block too few pairs for its own p99, saying what would do", () => {
    expect(() => checkPairsPerBlock({ ...defaults, rates: [20, 5] })).toThrow(/--rates 5 with --measure 12 gives 60 pairs per block: .*at least 200 paired requests.*raise --measure to at least 40 s/);
  });

  test("refuses a single-hop load too short for its own p99, and accepts none", () => {
    expect(() => checkPairsPerBlock({ ...defaults, hopS: 1 })).toThrow(/--hop-rate 100 with --hop 1 gives 100 single-hop pairs per block.*raise --hop to at least 2 s/);
    expect(() => checkPairsPerBlock({ ...defaults, hopS: 0 })).not.toThrow();
  });
});

describe("the verdict on the 3% target", () => {
  const interval = (value: number, lo: number, hi: number) => ({ value, lo, hi, resamples: 2000 });

  test("is shown only when the whole interval lies within the target and the A/A control within ±3%", () => {
    expect(verdict(interval(1.0, 0.98, 1.02), interval(1, 0.99, 1.01), 1.03).kind).toBe("shown");
    expect(verdict(interval(1.0, 0.98, 1.02), interval(1, 0.975, 1.03), 1.03).kind).toBe("below resolution");
  });

  test("is not shown when the whole interval lies above the target", () => {
    expect(verdict(interval(1.2, 1.1, 1.3), interval(1, 0.99, 1.01), 1.03).kind).toBe("not shown");
  });

  test("is never given while the A/A control is wider than 3%, even for an interval wholly within or above", () => {
    expect(verdict(interval(0.598, 0.53, 0.958), interval(1.43, 0.445, 3.121), 1.03).kind).toBe("below resolution");
    expect(verdict(interval(1.2, 1.1, 1.3), interval(1, 0.8, 1.25), 1.03).kind).toBe("below resolution");
  });

  test("is below the resolution when the interval straddles the target and the A/A control is wider than 3%", () => {
    const v = verdict(interval(1.05, 0.9, 1.2), interval(1.02, 0.92, 1.1), 1.03);
    expect(v.kind).toBe("below resolution");
    expect(v.resolution).toBeCloseTo(0.1, 9);
    expect(v.text).toMatch(/A\/A control \(copy against copy, neither observed\) spans ±10.0%/);
    expect(v.text).toMatch(/95% CI 0.900-1.200 decides nothing/);
  });

  test("is not shown when the interval straddles the target although the control resolves it", () => {
    expect(verdict(interval(1.03, 1.01, 1.05), interval(1, 0.99, 1.01), 1.03).kind).toBe("not shown");
  });
});

describe("the host CPU readings", () => {
  test("report steal time as its own share of the busy time between two snapshots", () => {
    const at = (ms: number, softirqS: number, stealS: number, busyS: number) => ({ atMs: ms, cpuUsec: {}, host: { softirqS, stealS, busyS } });
    const cores = coresBetween(at(0, 10, 100, 500), at(2000, 10.2, 101.5, 503));
    expect(cores.steal).toBeCloseTo(0.75, 9);
    expect(cores.softirq).toBeCloseTo(0.1, 9);
    expect(cores.busy).toBeCloseTo(1.5, 9);
  });

  test("read steal from the kernel's counters, never above the busy time", () => {
    const host = hostCpu();
    expect(host.stealS).toBeGreaterThanOrEqual(0);
    expect(host.stealS + host.softirqS).toBeLessThanOrEqual(host.busyS);
  });
});
