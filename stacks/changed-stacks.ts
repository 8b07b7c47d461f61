// Compares two synthesized outputs (base and change) and lists the stacks whose Terraform differs, so CI
// plans and applies only those. Construct metadata ("//" keys) is ignored: moving code without changing
// resources plans nothing.
//   tsx stacks/changed-stacks.ts <base cdktf.out> <head cdktf.out>   prints the JSON below
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface ChangedStacks {
  /** Every new or changed stack, cluster stacks first. */
  all: string[];
  cluster: string[];
  platform: string[];
  /** In base but no longer synthesized; CI never destroys them on its own. */
  removed: string[];
}

function withoutMetadata(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutMetadata);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => k !== "//")
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, withoutMetadata(v)]),
  );
}

function stackDocuments(outdir: string): Map<string, string> {
  const dir = join(outdir, "stacks");
  const docs = new Map<string, string>();
  if (!existsSync(dir)) return docs;
  for (const id of readdirSync(dir)) {
    const file = join(dir, id, "cdk.tf.json");
    if (existsSync(file)) docs.set(id, JSON.stringify(withoutMetadata(JSON.parse(readFileSync(file, "utf8")))));
  }
  return docs;
}

/** A missing or empty base (first run, or a base that did not synthesize) marks every stack as changed. */
export function changedStacks(baseOutdir: string, headOutdir: string): ChangedStacks {
  const base = stackDocuments(baseOutdir);
  const head = stackDocuments(headOutdir);
  if (head.size === 0) throw new Error(`${headOutdir} holds no synthesized stacks; run cdktf synth first`);
  const changed = [...head.keys()].filter((id) => base.get(id) !== head.get(id)).sort();
  const cluster = changed.filter((id) => id.endsWith("-cluster"));
  const platform = changed.filter((id) => id.endsWith("-platform"));
  const other = changed.filter((id) => !cluster.includes(id) && !platform.includes(id));
  return {
    all: [...cluster, ...platform, ...other],
    cluster,
    platform,
    removed: [...base.keys()].filter((id) => !head.has(id)).sort(),
  };
}

if (require.main === module) {
  const [base, head] = process.argv.slice(2);
  if (!base || !head) {
    process.stderr.write("usage: tsx stacks/changed-stacks.ts <base cdktf.out> <head cdktf.out>\n");
    process.exitCode = 2;
  } else {
    process.stdout.write(`${JSON.stringify(changedStacks(base, head))}\n`);
  }
}
