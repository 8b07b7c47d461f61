import { existsSync } from "node:fs";
import { join } from "node:path";
import { synthSummary } from "../../stacks/synth-summary";
import { EXAMPLES_DIR, copyExamples, minimalTemplate, removeTempDirs, tempDir, writeTemplate } from "./_fixtures";
import { loadEnvironments } from "../../environments/load";

afterAll(removeTempDirs);

describe("synth summary", () => {
  test("synthesizes every example and lists each stack with its mode, region, backend and resource counts", () => {
    const outdir = join(tempDir("sum"), "cdktf.out");
    const text = synthSummary({ environmentsDir: EXAMPLES_DIR, outdir });
    expect(text).toMatch(new RegExp(`^synthesized \\d+ stack\\(s\\) into ${outdir} in \\d+\\.\\d\\d s\\n`));
    for (const e of loadEnvironments(EXAMPLES_DIR)) {
      const row = text.split("\n").find((l) => l.startsWith(`${e.team}-${e.env}-cluster `));
      expect(row).toMatch(new RegExp(`^${e.team}-${e.env}-cluster\\s+${e.mode}\\s+${e.region}\\s+\\d+\\s+\\d+\\s+(local|gcs) `));
      expect(existsSync(join(outdir, "stacks", `${e.team}-${e.env}-cluster`, "cdk.tf.json"))).toBe(true);
    }
    expect(text).toMatch(/\n  google_container_cluster\s+4\n/);
  });

  test("policy warnings are listed, and a failing synth throws without leaving output", () => {
    const envs = copyExamples(["globex-dev.yaml"]);
    writeTemplate(envs, "demo-dev.yaml", minimalTemplate());
    const outdir = join(tempDir("sum"), "cdktf.out");
    expect(synthSummary({ environmentsDir: envs, outdir })).toMatch(
      /1 warning\(s\):\n  \[demo-dev-cluster\/gke\/cluster\] public control-plane endpoint without authorized networks/,
    );
    writeTemplate(envs, "demo-prod.yaml", minimalTemplate({ env: "prod" }));
    expect(() => synthSummary({ environmentsDir: envs, outdir })).toThrow(/public control-plane endpoint/);
    expect(existsSync(outdir)).toBe(false);
  });
});
