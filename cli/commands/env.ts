// `flowlens env new --team T --env E --mode standard|autopilot`: scaffolds environments/<team>-<env>.yaml.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnvironment } from "../../environments/load";
import { ModeSchema } from "../../environments/schema";
import { scaffoldEnvironment } from "../../environments/scaffold";
import { CommandError, reportError, UsageError } from "../lib/errors";
import { boolFlag, parseFlags, stringFlag } from "../lib/flags";

const FLAGS = {
  team: { type: "string" },
  env: { type: "string" },
  mode: { type: "string" },
  project: { type: "string" },
  region: { type: "string" },
  dir: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `usage: flowlens env new --team T --env E --mode standard|autopilot [flags]

Writes environments/<team>-<env>.yaml, a valid template with every section spelled out.
Then \`cdktf synth\` creates the stack <team>-<env>-cluster.

flags:
  --team T            team name (1-12 lowercase letters or digits)
  --env E             environment name; names starting with "prod" get production settings
  --mode M            standard | autopilot
  --project P         GCP project id (default: <team>-<env>-gke, a placeholder)
  --region R          GCP region (default: europe-west1)
  --dir D             where templates live (default: environments)
  --force             overwrite an existing template
`;

function required(flags: ReturnType<typeof parseFlags>, name: string): string {
  const v = stringFlag(flags, name);
  if (!v) throw new UsageError(`--${name} is required; run \`flowlens env new --help\``);
  return v;
}

function newEnvironment(argv: string[]): number {
  const flags = parseFlags("env new", argv, FLAGS);
  if (boolFlag(flags, "help")) {
    process.stdout.write(HELP);
    return 0;
  }
  const team = required(flags, "team");
  const env = required(flags, "env");
  const mode = ModeSchema.safeParse(required(flags, "mode"));
  if (!mode.success) {
    throw new UsageError(`--mode must be standard or autopilot, got "${stringFlag(flags, "mode")}"`);
  }
  const dir = stringFlag(flags, "dir") ?? "environments";
  const file = join(dir, `${team}-${env}.yaml`);
  const { text } = scaffoldEnvironment({
    team,
    env,
    mode: mode.data,
    project: stringFlag(flags, "project"),
    region: stringFlag(flags, "region"),
  });
  // Validate exactly what would be written, so a bad --team or --region fails here, not at synth.
  const parsed = parseEnvironment(file, text);
  if (Array.isArray(parsed)) {
    throw new UsageError(
      `the flags give an invalid template:\n${parsed.map((p) => `  ${p.path}: ${p.message}`).join("\n")}`,
    );
  }
  if (existsSync(file) && !boolFlag(flags, "force")) {
    throw new CommandError(`${file} already exists; edit it, or pass --force to overwrite it`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}; stack id ${team}-${env}-cluster\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === "new") return newEnvironment(rest);
    if (!sub || sub === "-h" || sub === "--help" || sub === "help") {
      process.stdout.write(HELP);
      return sub ? 0 : 2;
    }
    throw new UsageError(`unknown subcommand "${sub}"; run \`flowlens env new --help\``);
  } catch (err) {
    return reportError("env", err);
  }
}
