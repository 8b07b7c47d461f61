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
import { AGENT_P99_TARGET, cyclePairs, pairedBlocks, type PairedSamples } from "./report";
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
  blocks: PairedSamples[];
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
  const targets = (copies: number[][]) => ({ targets: copies.map((latenciesUs) => ({ latenciesUs })) });
  return { dir, blocks: (blocks as SavedBlock[]).map((b) => ({ ...b, load: targets(b.load), hop: b.hop ? targets(b.hop) : undefined })) };
}

/** The valid blocks of `config` at `rate` from every run, stratified by observed copy as in a single run. */
export function combinedBlocks(runs: SavedRun[], config: string, rate: number, hop = false): PairedBlock[] {
  return runs.flatMap((run) => pairedBlocks(run.blocks, config, rate, hop));
}

/** The whole-machine figure's cycles, each tested block beside the none block of its cycle in the same run. */
function combinedCyclePairs(runs: SavedRun[], config: string, rate: number): Record<"observed" | "unobserved", CyclePair[]> {
  const perRun = runs.map((run) => cyclePairs(run.blocks, config, rate));
  return { observed: perRun.flatMap((c) => c.observed), unobserved: perRun.flatMap((c) => c.unobserved) };
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
