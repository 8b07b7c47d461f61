import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CGROUP2_MOUNT } from "../../agent/kernel/pods";
import { bootstrapIntervals } from "../../../bench/agent/bootstrap";
import { buildTool, runAsync } from "../../../bench/agent/common";
import { bucketValueNs, BUCKETS, parseHistogram, PooledHistogram } from "../../../bench/agent/latency-histogram";
import { geometricMeans, pairedRatios } from "../../../bench/agent/paired-ratio";

describe("latency histograms of the datapath benchmark", () => {
  test("buckets below 1024 ns are exact and larger ones rise steadily, each at most 0.2% wide", () => {
    expect(bucketValueNs(0)).toBe(0);
    expect(bucketValueNs(1023)).toBe(1023);
    expect(bucketValueNs(1024)).toBe(1024.5); // covers 1024 and 1025
    const uneven: number[] = [];
    for (let b = 1024; b < BUCKETS - 1; b++) {
      const width = bucketValueNs(b + 1) - bucketValueNs(b);
      if (!(width > 0 && width / bucketValueNs(b) <= 0.002)) uneven.push(b);
    }
    expect(uneven).toEqual([]);
  });

  test("pooled percentiles are nearest-rank over the counts of every block", () => {
    const a = parseHistogram("4 100:1 200:3", "a");
    const b = parseHistogram("6 150:5 900:1", "b");
    const pool = new PooledHistogram().add(a).add(b);
    expect(pool.count).toBe(10);
    // sorted: 100, 150 x5, 200 x3, 900
    expect(pool.percentilesNs([0.1, 0.5, 0.6, 0.9, 1])).toEqual([100, 150, 150, 200, 900]);
    pool.reset().add(a);
    expect(pool.percentilesNs([0.5, 1])).toEqual([200, 200]);
  });

  test("a histogram whose counts do not add up is refused with where it came from", () => {
    expect(() => parseHistogram("5 100:1 200:3", "rr latency (quad 2)")).toThrow(/rr latency \(quad 2\): histogram of 5 requests holds 4/);
    expect(() => parseHistogram("2 200:1 100:1", "rr latency")).toThrow(/bad histogram entry "100:1"/);
  });

  test("rr records every round trip of a loopback request/response run in its histogram", async () => {
    const rr = buildTool("rr");
    const port = String(20000 + Math.floor(Math.random() * 12000)); // below the ephemeral range
    const server = spawn(rr, ["server", "127.0.0.1", port], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout!.once("data", () => resolve());
        server.once("exit", (code) => reject(new Error(`rr server exited with ${code}`)));
      });
      const h = parseHistogram(await runAsync([rr, "latency", "127.0.0.1", port, "64", "0.3"], 10_000), "rr latency");
      expect(h.count).toBeGreaterThan(100);
      const [p50, p99, max] = new PooledHistogram().add(h).percentilesNs([0.5, 0.99, 1]);
      expect(p50).toBeGreaterThan(500); // a loopback round trip through two syscalls each way takes microseconds
      expect(p50).toBeLessThanOrEqual(p99);
      expect(p99).toBeLessThanOrEqual(max);
    } finally {
      server.kill("SIGKILL");
    }
  });
});

describe("rr pair", () => {
  const group = path.join(CGROUP2_MOUNT, `flrrpair${process.pid}`);
  const sides = [path.join(group, "a"), path.join(group, "b")];

  afterAll(() => {
    for (const dir of [...sides, group]) if (fs.existsSync(dir)) fs.rmdirSync(dir);
  });

  test("alternates round trips between two connections made from two cgroups, whole or in time slots", async () => {
    const rr = buildTool("rr");
    for (const dir of [group, ...sides]) fs.mkdirSync(dir);
    const port = String(20000 + Math.floor(Math.random() * 12000));
    const server = spawn(rr, ["server", "127.0.0.1", port], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout!.once("data", () => resolve());
        server.once("exit", (code) => reject(new Error(`rr server exited with ${code}`)));
      });
      const args = ["pair", "64", "1.2", "/proc/self/ns/net", sides[0], "127.0.0.1", port, sides[1], "127.0.0.1", port];
      const whole = (await runAsync([rr, ...args], 10_000)).trim().split("\n").map((l, i) => parseHistogram(l, `line ${i + 1}`));
      expect(whole).toHaveLength(2);
      expect(Math.abs(whole[0].count - whole[1].count)).toBeLessThanOrEqual(1); // a b, b a, a b, ...

      const lines = (await runAsync([rr, ...args, "200", "20"], 10_000)).trim().split("\n");
      const slots = lines.map((l) => Number(l.split(" ")[0]));
      expect(lines.length % 2).toBe(0);
      expect(lines.length / 2).toBeGreaterThanOrEqual(4); // 1.2 s in 200 ms slots: the last, unfinished one is not printed
      for (let i = 0; i < lines.length; i += 2) {
        expect(slots[i + 1]).toBe(slots[i]);
        if (i > 0) expect(slots[i]).toBe(slots[i - 2] + 1);
        const [a, b] = [lines[i], lines[i + 1]].map((l) => parseHistogram(l.slice(l.indexOf(" ") + 1), `slot ${slots[i]}`));
        expect(Math.abs(a.count - b.count)).toBeLessThanOrEqual(2);
      }
      // The process left its groups when it exited; the sockets it made there are closed.
      for (const dir of sides) expect(fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8")).toBe("");
    } finally {
      server.kill("SIGKILL");
    }
  });
});

describe("bootstrap intervals over blocks", () => {
  test("the interval of a mean covers it, narrows with more units and repeats with the seed", () => {
    const mean = (xs: readonly number[]) => [xs.reduce((s, x) => s + x, 0) / xs.length];
    const units = Array.from({ length: 40 }, (_, i) => (i % 2 ? 1.1 : 0.9));
    const [wide] = bootstrapIntervals(units.slice(0, 10), mean, { seed: 7 });
    const [narrow] = bootstrapIntervals(units, mean, { seed: 7 });
    expect(narrow.low).toBeLessThanOrEqual(1);
    expect(narrow.high).toBeGreaterThanOrEqual(1);
    expect(narrow.high - narrow.low).toBeLessThan(wide.high - wide.low);
    expect(bootstrapIntervals(units, mean, { seed: 7 })).toEqual([narrow]);
  });
});

describe("ratios paired within quads", () => {
  test("the estimate is the geometric mean of the units' own ratios, column by column", () => {
    const [p99, tput] = geometricMeans([
      [1.1, 0.9],
      [1.1 * 1.21, 0.9],
      [1.1 / 1.21, 0.9],
    ]);
    expect(p99).toBeCloseTo(1.1, 12);
    expect(tput).toBeCloseTo(0.9, 12);
  });

  test("a unit whose two sides both switch mode leaves the paired estimate where the others put it", () => {
    // Ten units at a 2% ratio, one of them with both sides 40% slower: the pair keeps its 2%.
    const units = Array.from({ length: 10 }, (_, i) => ({ detached: i === 3 ? 14 : 10, attached: (i === 3 ? 14 : 10) * 1.02 }));
    const { values, intervals } = pairedRatios(units.map((u) => [u.attached / u.detached]), 200);
    expect(values[0]).toBeCloseTo(1.02, 12);
    expect(intervals[0].low).toBeCloseTo(1.02, 12);
    expect(intervals[0].high).toBeCloseTo(1.02, 12);
  });

  test("a ratio that is not a positive number is an error naming its column", () => {
    expect(() => geometricMeans([[1, 0]])).toThrow("ratio 0 of column 1 is not a positive number");
    expect(() => geometricMeans([[1], [1, 2]])).toThrow("unit ratios of different lengths");
  });
});
