// `flowlens bench --combine`: replicate runs' saved samples read back and the primary estimator recomputed over
// all their blocks, each run's blocks resampled within that run; a malformed run is refused with its file named.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { combinedBlocks, combineRuns, loadSavedRun } from "../../bench/mesh/combine";

/** Deterministic latencies (µs) with a long tail. */
function samples(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(2_000 * -Math.log(1 - s / 2147483648)) + 500;
  });
}

/** A saved run whose agent blocks have the observed copy `agentRatio` times slower in every pair, none blocks equal. */
function writeRun(dir: string, agentRatio: number, cycles: number, extra: object[] = []): string {
  fs.mkdirSync(dir, { recursive: true });
  const blocks = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    const observed = [0, 1, 1, 0][cycle % 4];
    for (const config of ["none", "agent"]) {
      const base = samples(240, cycle * 10 + 1); // the same requests in both blocks of a cycle
      const load = [base, base];
      load[observed] = base.map((x) => Math.round(x * (config === "agent" ? agentRatio : 1)));
      blocks.push({ cycle, rate: 20, config, observed, valid: true, load, hop: [base, base] });
    }
  }
  blocks.push(...extra);
  fs.writeFileSync(path.join(dir, "samples.json.gz"), zlib.gzipSync(JSON.stringify({ copies: ["a", "b"], blocks })));
  return dir;
}

describe("flowlens bench --combine", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fl-combine-"));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test("takes every valid block of every run, resampled across runs within each observed copy", () => {
    const invalid = { cycle: 99, rate: 20, config: "agent", observed: 0, valid: false, load: [samples(240, 5), samples(240, 6)] };
    const runs = [writeRun(path.join(root, "one"), 1.03, 8, [invalid]), writeRun(path.join(root, "two"), 1.05, 8)].map(loadSavedRun);
    const blocks = combinedBlocks(runs, "agent", 20);
    expect(blocks).toHaveLength(16);
    expect(blocks.filter((b) => b.stratum === 0)).toHaveLength(8);
    expect(blocks.filter((b) => b.stratum === 1)).toHaveLength(8);
    const [agent] = combineRuns(runs).filter((f) => f.config === "agent" && !f.hop);
    // Equal blocks from both runs: the geometric mean of 1.03 and 1.05. Resamples draw across runs, so the
    // difference between the runs shows in the interval, as drift within one run would.
    const expected = Math.sqrt(1.03 * 1.05);
    expect(agent.p99Ratio.value).toBeCloseTo(expected, 3);
    expect(agent.p99Ratio.lo).toBeLessThan(expected - 0.003);
    expect(agent.p99Ratio.hi).toBeGreaterThan(expected + 0.003);
    expect(agent.p99Ratio.lo).toBeGreaterThan(1.03 - 1e-3);
    expect(agent.p99Ratio.hi).toBeLessThan(1.05 + 1e-3);
    expect(agent.control.value).toBeCloseTo(1, 6);
    expect(agent.verdict?.kind).toBe("not shown");
    // The whole-machine figure: the observed copy's p99 in agent blocks over the none block of its cycle.
    expect(agent.wholeMachine!.observed.value).toBeCloseTo(expected, 3);
    expect(agent.wholeMachine!.unobserved.value).toBeCloseTo(1, 2);
  });

  test("refuses a folder without samples, and a block that is not paired, naming the file", () => {
    expect(() => loadSavedRun(path.join(root, "missing"))).toThrow(/missing\/samples\.json\.gz: cannot read/);
    const bad = path.join(root, "bad");
    writeRun(bad, 1, 4, [{ cycle: 5, rate: 20, config: "agent", observed: 0, valid: true, load: [samples(10, 1)] }]);
    expect(() => loadSavedRun(bad)).toThrow(/bad\/samples\.json\.gz: block 8 is not a block of paired samples/);
  });
});
