// Renders the chart with the real helm binary (.tools/bin/helm, extracted by `make tools`).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "./kube-validate";

export const REPO = join(__dirname, "..", "..");
export const CHART = join(REPO, "charts", "flowlens");
export const HELM = join(REPO, ".tools", "bin", "helm");

/** Extracts helm with the build's own step (`make tools`, idempotent) when a test runs before `make build`. */
export function requireHelm(): void {
  if (existsSync(HELM)) return;
  execFileSync("make", ["-s", "tools"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  if (!existsSync(HELM)) throw new Error(`\`make tools\` did not produce ${HELM}; check mk/chart.mk`);
}

export function helm(args: string[]): string {
  requireHelm();
  return execFileSync(HELM, args, { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `helm template` with `--set` pairs; returns the parsed objects. */
export function renderChart(set: Record<string, string> = {}, namespace = "flowlens", release = "flowlens"): KubeObject[] {
  const args = ["template", release, CHART, "--namespace", namespace];
  for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
  return parseAllDocuments(helm(args))
    .map((d) => d.toJSON() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

export function findObject(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`rendered chart has no ${kind} ${name}; it has ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found;
}
