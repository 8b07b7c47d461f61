// `flowlens bench`: none vs eBPF agent vs sidecar on the lab replica; prints
// the figures and writes a Markdown report with SVG plots.
import * as path from "node:path";
import { CONFIGS, runBench, type Config } from "../../bench/mesh/run";
import { writeReport } from "../../bench/mesh/report";
import { LabError } from "../../lab/errors";
import { CommandError, reportError, UsageError } from "../lib/errors";
import { boolFlag, listFlag, parseFlags, stringFlag } from "../lib/flags";

const FLAGS = {
  rates: { type: "string" },
  rounds: { type: "string" },
  warmup: { type: "string" },
  measure: { type: "string" },
  configs: { type: "string" },
  "hop-rate": { type: "string" },
  hop: { type: "string" },
  nice: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const DEFAULTS = { rates: "10,25", rounds: "2", warmup: "3", measure: "6", configs: CONFIGS.join(","), hopRate: "100", hop: "4", nice: "0", out: "bench/results" };

const HELP = `usage: flowlens bench [flags]

Runs the lab replica under three configurations (none, agent, sidecar) at
fixed request rates, alternating them, and writes OUT/mesh-<time>/report.md.
Takes about rates x rounds x 3 x (warmup + measure + hop + 11 s): about 4.5 minutes by default.

  --rates R1,R2       frontend requests per second (default ${DEFAULTS.rates})
  --rounds N          rounds per rate (default ${DEFAULTS.rounds})
  --warmup S          seconds before measuring, per phase (default ${DEFAULTS.warmup})
  --measure S         measured seconds per phase (default ${DEFAULTS.measure})
  --configs LIST      subset of ${CONFIGS.join(",")} (default all)
  --hop-rate N        direct gRPC calls/s to one service after each phase (default ${DEFAULTS.hopRate})
  --hop S             seconds of that single-hop load (default ${DEFAULTS.hop})
  --nice N            niceness of every lab process, the same in all configurations, so
                      other work on the machine disturbs the comparison less (default ${DEFAULTS.nice})
  --out DIR           report folder (default ${DEFAULTS.out})
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
    if (process.getuid?.() !== 0) throw new CommandError("the benchmark builds the lab (namespaces, cgroups, eBPF) and must run as root");
    const rates = (stringFlag(flags, "rates") ?? DEFAULTS.rates).split(",").map((r) => positive("rates", r.trim(), 2000));
    const configs = listFlag(flags, "configs");
    const chosen = (configs.length ? configs : CONFIGS) as Config[];
    for (const c of chosen) if (!CONFIGS.includes(c)) throw new UsageError(`--configs: unknown configuration "${c}"; use ${CONFIGS.join(", ")}`);
    const options = {
      rates,
      rounds: Math.floor(positive("rounds", stringFlag(flags, "rounds") ?? DEFAULTS.rounds, 20)),
      warmupS: positive("warmup", stringFlag(flags, "warmup") ?? DEFAULTS.warmup, 300),
      measureS: positive("measure", stringFlag(flags, "measure") ?? DEFAULTS.measure, 600),
      configs: chosen,
      hopRate: positive("hop-rate", stringFlag(flags, "hop-rate") ?? DEFAULTS.hopRate, 5000),
      hopS: positive("hop", stringFlag(flags, "hop") ?? DEFAULTS.hop, 600),
      nice: niceness(stringFlag(flags, "nice") ?? DEFAULTS.nice),
      log: (line: string) => process.stdout.write(`${line}\n`),
    };
    const result = await runBench(options);
    const report = writeReport(result, path.resolve(stringFlag(flags, "out") ?? DEFAULTS.out));
    process.stdout.write(`\n${report.summary.join("\n")}\nreport: ${report.markdown}\n`);
    return 0;
  } catch (err) {
    return reportError("bench", err instanceof LabError ? new CommandError(err.message) : err);
  }
}
