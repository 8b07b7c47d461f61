// Synthesizes every environment template and describes what came out: per stack its mode, region,
// backend, resource and output counts, plus any policy warnings. `npm run synth:summary` prints it.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AnnotationMetadataEntryType, TerraformStack } from "cdktf";
import { buildApp } from "../main";
import { ClusterStack } from "./cluster-stack";
import { synthesizeAtomically } from "./synthesize";

export interface SynthSummaryOptions {
  /** @default - the repository's environments/ */
  readonly environmentsDir?: string;
  /** @default "cdktf.out" */
  readonly outdir?: string;
}

export interface StackSummary {
  id: string;
  mode?: string;
  region?: string;
  backend: string;
  resources: Record<string, number>;
  outputs: number;
}

interface StackJson {
  terraform?: { backend?: Record<string, Record<string, string>> };
  resource?: Record<string, Record<string, unknown>>;
  output?: Record<string, unknown>;
}

/** Reads one synthesized stack from `outdir` (the files Terraform would get). */
export function readStackSummary(outdir: string, stack: TerraformStack): StackSummary {
  const id = stack.node.id;
  const json = JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8")) as StackJson;
  const [kind, settings] = Object.entries(json.terraform?.backend ?? { local: {} })[0];
  const where = kind === "gcs" ? `gs://${settings.bucket}/${settings.prefix}` : (settings.path ?? "");
  const resources = Object.fromEntries(
    Object.entries(json.resource ?? {}).map(([type, byId]) => [type, Object.keys(byId).length]),
  );
  const e = stack instanceof ClusterStack ? stack.environment : undefined;
  return {
    id,
    mode: e?.mode,
    region: e?.region,
    backend: `${kind} ${where}`.trim(),
    resources,
    outputs: Object.keys(json.output ?? {}).length,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** Synthesizes every environment into `outdir` and returns a printable summary; throws like synth does. */
export function synthSummary(options: SynthSummaryOptions = {}): string {
  const outdir = resolve(options.outdir ?? "cdktf.out");
  const started = performance.now();
  const app = synthesizeAtomically(outdir, (dir) =>
    buildApp({ environmentsDir: options.environmentsDir, outdir: dir }),
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const stacks = app.node.children.filter(TerraformStack.isStack);
  const summaries = stacks.map((s) => readStackSummary(outdir, s));
  const totals = new Map<string, number>();
  for (const s of summaries) {
    for (const [type, n] of Object.entries(s.resources)) totals.set(type, (totals.get(type) ?? 0) + n);
  }
  const warnings = app.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === AnnotationMetadataEntryType.WARN)
        .map((m) => `  [${c.node.path}] ${String(m.data)}`),
    );
  const rows = [
    ["stack", "mode", "region", "resources", "outputs", "backend"],
    ...summaries.map((s) => [
      s.id,
      s.mode ?? "-",
      s.region ?? "-",
      String(Object.values(s.resources).reduce((a, b) => a + b, 0)),
      String(s.outputs),
      s.backend,
    ]),
  ];
  return [
    `synthesized ${summaries.length} stack(s) into ${outdir} in ${seconds} s`,
    table(rows),
    "",
    "resources by type:",
    table([...totals.entries()].sort().map(([type, n]) => [`  ${type}`, String(n)])),
    ...(warnings.length > 0 ? ["", `${warnings.length} warning(s):`, ...warnings] : []),
    "",
  ].join("\n");
}

if (require.main === module) {
  try {
    process.stdout.write(synthSummary());
  } catch (err) {
    process.stderr.write(`synth failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
