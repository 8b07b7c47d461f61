/**
 * Replicate runs of `flowlens bench` taken together: each run's samples (samples.json.gz) are read back and
 * the primary estimator (the geometric mean of the blocks' own p99 ratios) is recomputed over the blocks of
 * all runs as if they were one longer run: the bootstrap draws blocks within each observed copy, across runs,
 * so a difference between runs widens the interval as drift within a run does. More blocks narrow the A/A
 * control the way more cycles would; runs taken with different builds of what is measured must not be
 * combined.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { AGENT_P99_TARGET } from "./report";
import { blockRatioInterval, crossBlockRatioInterval, verdict, type BlockRatioInterval, type CyclePair, type PairedBlock, type Verdict } from "./stats";

interface SavedBlock {
  cycle: number;
  rate: number;
  config: string;
  observed: number;
  valid: boolean;
  load: number[][];
  hop?: number[][];
}

export interface SavedRun {
  dir: string;
  blocks: SavedBlock[];
}

/** Reads a run's samples.json.gz; the error names the file and what is wrong with it. */
export function loadSavedRun(dir: string): SavedRun {
  const file = path.join(dir, "samples.json.gz");
  let data: { blocks?: unknown };
  try {
    data = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString("utf8"));
  } catch (err) {
    throw new Error(`${file}: cannot read a bench run's samples (${(err as Error).message})`);
  }
  const blocks = data.blocks;
  const wellFormed = (b: SavedBlock) =>
    typeof b.config === "string" && typeof b.rate === "number" && (b.observed === 0 || b.observed === 1) &&
    typeof b.valid === "boolean" && Array.isArray(b.load) && b.load.length === 2;
  if (!Array.isArray(blocks) || blocks.length === 0) throw new Error(`${file}: no blocks`);
  const bad = blocks.findIndex((b) => !wellFormed(b as SavedBlock));
  if (bad >= 0) throw new Error(`${file}: block ${bad} is not a block of paired samples`);
  return { dir, blocks: blocks as SavedBlock[] };
}

/** The valid blocks of `config` at `rate` from every run, stratified by observed copy as in a single run. */
export function combinedBlocks(runs: SavedRun[], config: string, rate: number, hop = false): PairedBlock[] {
  return runs.flatMap((run) =>
    run.blocks
      .filter((b) => b.valid && b.config === config && b.rate === rate && (!hop || b.hop))
      .map((b) => {
        const load = hop ? b.hop! : b.load;
        return { stratum: b.observed, observed: load[b.observed], unobserved: load[1 - b.observed] };
      }),
  );
}

/**
 * Each copy's latencies in the valid blocks of `config` at `rate` beside the same copy's in the valid none block of
 * the same cycle of the same run, by the copy's role in the tested block: the whole-machine figure's cycles.
 */
export function combinedCyclePairs(runs: SavedRun[], config: string, rate: number): Record<"observed" | "unobserved", CyclePair[]> {
  const out: Record<"observed" | "unobserved", CyclePair[]> = { observed: [], unobserved: [] };
  for (const run of runs) {
    for (const b of run.blocks.filter((x) => x.valid && x.config === config && x.rate === rate)) {
      const none = run.blocks.find((x) => x.valid && x.config === "none" && x.rate === rate && x.cycle === b.cycle);
      if (!none) continue;
      out.observed.push({ tested: b.load[b.observed], control: none.load[b.observed] });
      out.unobserved.push({ tested: b.load[1 - b.observed], control: none.load[1 - b.observed] });
    }
  }
  return out;
}

export interface CombinedFigure {
  config: string;
  rate: number;
  hop: boolean;
  p99Ratio: BlockRatioInterval;
  control: BlockRatioInterval;
  verdict?: Verdict;
  /** Each copy's p99 in tested blocks over its p99 in the none block of the same cycle (not for the hop). */
  wholeMachine?: Record<"observed" | "unobserved", BlockRatioInterval>;
}

/** Every tested configuration's p99 ratio against the none blocks' A/A control, over all runs. */
export function combineRuns(runs: SavedRun[]): CombinedFigure[] {
  if (runs.length === 0) throw new Error("combine needs at least one run directory");
  const rates = [...new Set(runs.flatMap((r) => r.blocks.map((b) => b.rate)))].sort((a, b) => a - b);
  const configs = [...new Set(runs.flatMap((r) => r.blocks.map((b) => b.config)))].filter((c) => c !== "none");
  const out: CombinedFigure[] = [];
  for (const rate of rates) {
    for (const hop of [false, true]) {
      const none = combinedBlocks(runs, "none", rate, hop);
      if (none.length === 0) continue;
      const control = blockRatioInterval(none, 0.99);
      for (const config of configs) {
        const blocks = combinedBlocks(runs, config, rate, hop);
        if (blocks.length === 0) continue;
        const p99Ratio = blockRatioInterval(blocks, 0.99);
        const figure: CombinedFigure = { config, rate, hop, p99Ratio, control };
        if (config === "agent" && !hop) figure.verdict = verdict(p99Ratio, control, AGENT_P99_TARGET);
        if (!hop) {
          const cycles = combinedCyclePairs(runs, config, rate);
          figure.wholeMachine = { observed: crossBlockRatioInterval(cycles.observed, 0.99), unobserved: crossBlockRatioInterval(cycles.unobserved, 0.99) };
        }
        out.push(figure);
      }
    }
  }
  if (out.length === 0) throw new Error("the runs have no none blocks and tested blocks at a common rate");
  return out;
}

const ci = (i: BlockRatioInterval) => `${i.value.toFixed(3)} (95% CI ${i.lo.toFixed(3)}-${i.hi.toFixed(3)}, ${i.blocks} blocks)`;

/** The lines `flowlens bench --combine` prints. */
export function formatCombined(runs: SavedRun[], figures: CombinedFigure[]): string[] {
  const lines = [`${runs.length} runs combined: ${runs.map((r) => path.basename(r.dir)).join(", ")}`];
  for (const f of figures) {
    const what = f.hop ? `one gRPC hop (after the ${f.rate} req/s blocks)` : `${f.rate} req/s`;
    lines.push(`${f.config} at ${what}: p99 ratio (geometric mean of the blocks' own p99 ratios) ${ci(f.p99Ratio)}; A/A control ${ci(f.control)}`);
    if (f.verdict) lines.push(`  target <= ${AGENT_P99_TARGET}: ${f.verdict.text}`);
    if (f.wholeMachine) {
      const w = f.wholeMachine;
      lines.push(`  on the whole machine (a copy's p99 in the ${f.config} block over its p99 in the none block of the same cycle; not paired): observed copy ${ci(w.observed)}, other copy ${ci(w.unobserved)}`);
    }
  }
  return lines;
}
