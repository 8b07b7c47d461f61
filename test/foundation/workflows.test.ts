// The CI templates users copy: plan on pull requests with a read-only identity, apply on main only, keyless.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO } from "./_fixtures";

type Step = { uses?: string; run?: string; with?: Record<string, unknown> };
type Job = { needs?: string | string[]; permissions?: Record<string, string>; steps: Step[]; strategy?: { matrix: { stack: string } } };
type Workflow = { on: Record<string, any>; permissions: Record<string, string>; jobs: Record<string, Job> };

const load = (name: string): Workflow => parse(readFileSync(join(REPO, ".github", "workflows", name), "utf8"));
const pr = load("cdktf-pull-request.yml");
const apply = load("cdktf-apply.yml");
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);

describe("CI workflow templates", () => {
  test("default token permissions are read-only and only jobs that authenticate ask for an OIDC token", () => {
    for (const w of [pr, apply]) {
      expect(w.permissions).toEqual({ contents: "read" });
      for (const job of Object.values(w.jobs)) {
        const authenticates = job.steps.some((s) => s.uses?.startsWith("google-github-actions/auth@"));
        expect(job.permissions?.["id-token"] === "write").toBe(authenticates);
      }
    }
  });

  test("pull requests type-check, test and synthesize, then plan each changed stack with a PR comment as the plan account", () => {
    const run = steps(pr).map((s) => s.run ?? "").join("\n");
    expect(run).toContain("npx tsc --noEmit");
    expect(run).toContain("npx jest test/foundation");
    expect(run).toContain("npx cdktf synth");
    expect(run).toContain("stacks/changed-stacks.ts");
    const plan = pr.jobs.plan;
    expect(plan.strategy!.matrix.stack).toBe("${{ fromJSON(needs.synth.outputs.changed).all }}");
    const cdk = plan.steps.find((s) => s.uses?.startsWith("hashicorp/terraform-cdk-action@"))!;
    expect(cdk.with).toMatchObject({ mode: "plan-only", commentOnPr: true, stackName: "${{ matrix.stack }}", cdktfVersion: "0.21.0" });
    const auth = plan.steps.find((s) => s.uses?.startsWith("google-github-actions/auth@"))!;
    expect(auth.with!.service_account).toBe("${{ vars.GCP_PLAN_SERVICE_ACCOUNT }}");
    expect(plan.permissions).toMatchObject({ "pull-requests": "write" });
  });

  test("merges to main apply cluster stacks before platform stacks as the deploy account", () => {
    expect(apply.on.push.branches).toEqual(["main"]);
    expect(Object.keys(apply.on)).toEqual(["push"]);
    const platformNeeds = apply.jobs["apply-platform"].needs;
    expect(platformNeeds).toContain("apply-cluster");
    for (const name of ["apply-cluster", "apply-platform"]) {
      const job = apply.jobs[name];
      const cdk = job.steps.find((s) => s.uses?.startsWith("hashicorp/terraform-cdk-action@"))!;
      expect(cdk.with).toMatchObject({ mode: "auto-approve-apply", stackName: "${{ matrix.stack }}" });
      const auth = job.steps.find((s) => s.uses?.startsWith("google-github-actions/auth@"))!;
      expect(auth.with).toEqual({
        workload_identity_provider: "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
        service_account: "${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}",
      });
    }
    expect(apply.jobs["apply-cluster"].strategy!.matrix.stack).toMatch(/\.cluster }}$/);
    expect(apply.jobs["apply-platform"].strategy!.matrix.stack).toMatch(/\.platform }}$/);
  });

  test("no workflow uses long-lived credentials", () => {
    const text = readFileSync(join(REPO, ".github", "workflows", "cdktf-apply.yml"), "utf8") +
      readFileSync(join(REPO, ".github", "workflows", "cdktf-pull-request.yml"), "utf8");
    expect(text).not.toMatch(/credentials_json|GOOGLE_CREDENTIALS|service_account_key/);
    for (const s of [...steps(pr), ...steps(apply)]) {
      if (s.uses) expect(s.uses).toMatch(/@v\d+$/);
    }
  });
});
