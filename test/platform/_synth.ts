// Synthesizes apps the way `cdktf synth` does (app.synth() into a real directory) and reads the JSON back.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { EnvironmentInput } from "../../environments/schema";

export type Json = Record<string, any>;

export interface SynthDir {
  dir: string;
  stack(id: string): Json;
  remove(): void;
}

export function tempDir(prefix: string): SynthDir {
  const dir = mkdtempSync(join(tmpdir(), `fl-${prefix}-`));
  return {
    dir,
    stack: (id) => JSON.parse(readFileSync(join(dir, "stacks", id, "cdk.tf.json"), "utf8")),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function writeTemplates(dir: string, templates: EnvironmentInput[]): void {
  for (const t of templates) writeFileSync(join(dir, `${t.team}-${t.env}.yaml`), stringify(t));
}

/** Resources of one type in a synthesized stack, keyed by logical id. */
export function resourcesOf(stack: Json, type: string): Record<string, Json> {
  return stack.resource?.[type] ?? {};
}

/** The kubernetes_manifest bodies of a stack. */
export function manifestsOf(stack: Json): Json[] {
  return Object.values(resourcesOf(stack, "kubernetes_manifest")).map((r) => r.manifest);
}

export function findManifest(stack: Json, kind: string, name: string, namespace?: string): Json | undefined {
  return manifestsOf(stack).find(
    (m) => m.kind === kind && m.metadata.name === name && (namespace === undefined || m.metadata.namespace === namespace),
  );
}

export function releases(stack: Json): Json[] {
  return Object.values(resourcesOf(stack, "helm_release"));
}
