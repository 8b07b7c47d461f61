// Temporary template directories and readers of synthesized stacks, shared by the foundation tests.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

export const REPO = join(__dirname, "..", "..");
export const EXAMPLES_DIR = join(REPO, "environments");
export const EXAMPLE_FILES = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith(".yaml")).sort();

const created: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `fl-${prefix}-`));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A directory holding copies of the given example templates. */
export function copyExamples(files: string[] = EXAMPLE_FILES): string {
  const dir = tempDir("envs");
  for (const f of files) cpSync(join(EXAMPLES_DIR, f), join(dir, f));
  return dir;
}

export function writeTemplate(dir: string, file: string, content: object | string): string {
  const path = join(dir, file);
  writeFileSync(path, typeof content === "string" ? content : stringify(content));
  return path;
}

export function minimalTemplate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { team: "demo", env: "dev", project: "demo-project-1", region: "europe-west1", mode: "standard", ...overrides };
}

export interface StackJson {
  terraform: { backend: Record<string, Record<string, string>>; required_providers: Record<string, unknown> };
  provider: Record<string, Array<Record<string, unknown>>>;
  resource: Record<string, Record<string, Record<string, any>>>;
  output: Record<string, { value: string; sensitive?: boolean }>;
}

export function readStack(outdir: string, id: string): StackJson {
  return JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8"));
}

/** The only resource of `type` in the stack. */
export function only(stack: StackJson, type: string): Record<string, any> {
  const all = Object.values(stack.resource[type] ?? {});
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

export function all(stack: StackJson, type: string): Record<string, any>[] {
  return Object.values(stack.resource[type] ?? {});
}
