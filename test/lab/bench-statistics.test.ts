// The benchmark's block order and statistics, checked without building a lab:
// the mirrored (ABBA) schedule, the cycle bootstrap of a p99 ratio, and the
// verdict against the agent's 3% target, and the host CPU readings (steal apart).
import { blockSchedule, type Arm } from "../../bench/mesh/run";
import { coresBetween, hostCpu } from "../../bench/mesh/resources";
import { ratioInterval, verdict } from "../../bench/mesh/stats";

/** Deterministic pseudo-random latencies (µs) around `scale`, with a long tail. */
function samples(n: number, scale: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(scale * -Math.log(1 - s / 2147483648));
  });
}

describe("the block schedule", () => {
  const arms: Arm[] = ["none", "agent", "sidecar", "none-aa"];

  test("runs every arm once per cycle and rate, mirrored on odd cycles", () => {
    const blocks = blockSchedule(arms, [25], 2);
    expect(blocks.map((b) => b.arm)).toEqual(["none", "agent", "sidecar", "none-aa", "none-aa", "sidecar", "agent", "none"]);
    expect(blocks.map((b) => b.cycle)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  test("gives every arm the same mean position over each pair of cycles, so linear drift cancels", () => {
    const blocks = blockSchedule(arms, [10, 25], 4);
    for (const rate of [10, 25]) {
      const at = blocks.map((b, i) => ({ ...b, i })).filter((b) => b.rate === rate);
      const meanPosition = (arm: Arm) => at.filter((b) => b.arm === arm).reduce((n, b) => n + b.i, 0) / 4;
      for (const arm of arms) expect(meanPosition(arm)).toBeCloseTo(meanPosition("none"), 9);
    }
  });
});

describe("the p99 ratio interval", () => {
  test("covers 1 for two arms drawn from the same distribution", () => {
    const a = Array.from({ length: 10 }, (_, i) => samples(300, 10_000, i + 1));
    const b = Array.from({ length: 10 }, (_, i) => samples(300, 10_000, i + 101));
    const r = ratioInterval(a, b, 0.99, 500);
    expect(r.lo).toBeLessThan(1);
    expect(r.hi).toBeGreaterThan(1);
    expect(r.lo).toBeLessThanOrEqual(r.ratio);
    expect(r.hi).toBeGreaterThanOrEqual(r.ratio);
  });

  test("excludes 1 when one arm is 20% slower throughout", () => {
    const a = Array.from({ length: 10 }, (_, i) => samples(300, 10_000, i + 1));
    const b = a.map((c) => c.map((v) => v * 1.2));
    const r = ratioInterval(a, b, 0.99, 500);
    expect(r.ratio).toBeCloseTo(1.2, 6);
    expect(r.lo).toBeCloseTo(1.2, 6);
  });

  test("needs the same cycles in both arms", () => {
    expect(() => ratioInterval([[1]], [[1], [2]], 0.99)).toThrow(/same non-zero number of cycles per arm \(got 1 and 2\)/);
  });
});

describe("the verdict on the 3% target", () => {
  const interval = (ratio: number, lo: number, hi: number) => ({ ratio, lo, hi, resamples: 2000 });

  test("is shown only when the whole interval lies within the target", () => {
    expect(verdict(interval(1.0, 0.98, 1.02), interval(1, 0.99, 1.01), 1.03).kind).toBe("shown");
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
    expect(v.text).toMatch(/A\/A control \(none vs none\) spans ±10.0%/);
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
