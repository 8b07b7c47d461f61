// `flowlens bench`: none vs eBPF agent vs sidecar on two copies of the lab
// replica side by side, driven by paired requests, one copy under a
// configuration per block; prints the figures and writes a Markdown report
// with SVG plots.
import * as path from "node:path";
import { CONFIGS, runBench, type Config } from "../../bench/mesh/run";
import { combineRuns, formatCombined, loadSavedRun } from "../../bench/mesh/combine";
import { writeReport } from "../../bench/mesh/report";
import { MIN_PAIRS_PER_BLOCK } from "../../bench/mesh/stats";
import { LabError } from "../../lab/errors";
import { CommandError, reportError, UsageError } from "../lib/errors";
import { boolFlag, listFlag, parseFlags, stringFlag } from "../lib/flags";

const FLAGS = {
  rates: { type: "string" },
  cycles: { type: "string" },
  settle: { type: "string" },
  warmup: { type: "string" },
  measure: { type: "string" },
  prewarm: { type: "string" },
  configs: { type: "string" },
  "hop-rate": { type: "string" },
  hop: { type: "string" },
  nice: { type: "string" },
  "max-send-lag": { type: "string" },
  short: { type: "boolean" },
  out: { type: "string" },
  combine: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const DEFAULTS = { rates: "20", cycles: "20", settle: "2", warmup: "2", measure: "12", prewarm: "20", configs: CONFIGS.join(","), hopRate: "100", hop: "3", nice: "0", maxSendLag: "50", out: "bench/results" };
/** --short: a quick run while developing; too few blocks to resolve a few percent. */
const SHORT = { cycles: "4", settle: "1", warmup: "2", measure: "10", prewarm: "8", hop: "2" };

const HELP = `usage: flowlens bench [flags]

Runs two identical copies of the lab replica side by side and sends every
request to both at the same instant (paired requests). Each block puts one
copy under a configuration (agent: eBPF agents observing that copy's cgroups;
sidecar: HAProxy in that copy's pods) and leaves the other alone; none blocks
leave both alone (the A/A control). The copy under the configuration
alternates A, B, B, A over cycles. Writes OUT/mesh-<time>/report.md with the
p99 ratio (observed / unobserved copy: the geometric mean of the blocks' own
p99 ratios, and the ratio of pooled p99s beside it) and the paired
difference, their bootstrap intervals, and whether the agent's 3% target is
shown.
Takes about cycles x configurations x (settle + warmup + measure + hop + 4 s):
about 25 minutes by default, about 5 minutes with --short.

  --rates R1,R2       frontend requests per second to each copy (default ${DEFAULTS.rates})
  --cycles N          cycles; each runs every configuration once per rate; a multiple
                      of 4 observes both copies equally (default ${DEFAULTS.cycles})
  --settle S          seconds after a switch before the load starts (default ${DEFAULTS.settle})
  --warmup S          seconds of unrecorded load per block (default ${DEFAULTS.warmup})
  --measure S         measured seconds per block; rate x measure must reach ${MIN_PAIRS_PER_BLOCK} pairs,
                      enough for each block's own p99 (default ${DEFAULTS.measure})
  --prewarm S         seconds of unrecorded load before the first block (default ${DEFAULTS.prewarm})
  --configs LIST      subset of ${CONFIGS.join(",")} (default all; none is the A/A control,
                      without it no verdict is given)
  --hop-rate N        direct gRPC calls/s to each copy's currencyservice after each block (default ${DEFAULTS.hopRate})
  --hop S             seconds of that single-hop load, 0 for none; hop rate x hop must
                      reach ${MIN_PAIRS_PER_BLOCK} pairs too (default ${DEFAULTS.hop})
  --nice N            niceness of every lab process, the same in all configurations, so
                      other work on the machine disturbs the comparison less; write a
                      negative value as --nice=-5 (default ${DEFAULTS.nice})
  --max-send-lag MS   a block enters the statistics only if the load generator sent
                      99% of its requests within MS of schedule; later than that the
                      machine could not run the open model (default ${DEFAULTS.maxSendLag})
  --short             ${SHORT.cycles} cycles of ${SHORT.measure} s blocks, for development (explicit flags still apply)
  --out DIR           report folder (default ${DEFAULTS.out})
  --combine D1,D2     runs nothing: recomputes the p99 ratios and the verdict over the
                      blocks of earlier runs (their report folders) as one longer run;
                      combine only runs of one build
`;

function positive(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > max) throw new UsageError(`--${name} "${value}" must be a number above 0 and at most ${max}`);
  return n;
}

function niceness(value: string): number {
  if (!/^-?\d+$/.test(value) || Number(value) < -20 || Number(value) > 19) throw new UsageError(`--nice "${value}" must be a whole number from -20 to 19`);
  return Number(value);
}

export async function run(argv: string[]): Promise<number> {
  try {
    const flags = parseFlags("bench", argv, FLAGS);
    if (boolFlag(flags, "help")) {
      process.stdout.write(HELP);
      return 0;
    }
    if (flags.positionals.length) throw new UsageError(`unexpected argument "${flags.positionals[0]}"; see flowlens bench --help`);
    const combine = listFlag(flags, "combine");
    if (combine.length) {
      const runs = combine.map((d) => loadSavedRun(path.resolve(d)));
      process.stdout.write(`${formatCombined(runs, combineRuns(runs)).join("\n")}\n`);
      return 0;
    }
    if (process.getuid?.() !== 0) throw new CommandError("the benchmark builds the lab (namespaces, cgroups, eBPF) and must run as root");
    const rates = (stringFlag(flags, "rates") ?? DEFAULTS.rates).split(",").map((r) => positive("rates", r.trim(), 2000));
    const configs = listFlag(flags, "configs");
    const chosen = (configs.length ? configs : CONFIGS) as Config[];
    for (const c of chosen) if (!CONFIGS.includes(c)) throw new UsageError(`--configs: unknown configuration "${c}"; use ${CONFIGS.join(", ")}`);
    const base = boolFlag(flags, "short") ? { ...DEFAULTS, ...SHORT } : DEFAULTS;
    const seconds = (name: "settle" | "warmup" | "measure" | "prewarm", max: number) => positive(name, stringFlag(flags, name) ?? base[name], max);
    const hop = stringFlag(flags, "hop") ?? base.hop;
    const options = {
      rates,
      cycles: Math.floor(positive("cycles", stringFlag(flags, "cycles") ?? base.cycles, 100)),
      settleS: seconds("settle", 60),
      warmupS: seconds("warmup", 300),
      measureS: seconds("measure", 600),
      prewarmS: seconds("prewarm", 600),
      configs: chosen,
      hopRate: positive("hop-rate", stringFlag(flags, "hop-rate") ?? base.hopRate, 5000),
      hopS: hop === "0" ? 0 : positive("hop", hop, 600),
      nice: niceness(stringFlag(flags, "nice") ?? base.nice),
      maxSendLagMs: positive("max-send-lag", stringFlag(flags, "max-send-lag") ?? base.maxSendLag, 60_000),
      log: (line: string) => void process.stdout.write(`${line}\n`),
    };
    const result = await runBench(options);
    const report = writeReport(result, path.resolve(stringFlag(flags, "out") ?? DEFAULTS.out));
    process.stdout.write(`\n${report.summary.join("\n")}\nreport: ${report.markdown}\n`);
    return 0;
  } catch (err) {
    return reportError("bench", err instanceof LabError ? new CommandError(err.message) : err);
  }
}
