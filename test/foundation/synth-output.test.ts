// The app as users run it, in a child process: `tsx main.ts`, the bundle that cdktf.json runs through
// bin/cdktf-app, and `cdktf synth`. A failed synth must leave no cdktf.out behind, stale or partial.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { synthesizeAtomically, PolicyError } from "../../stacks/synthesize";
import { buildApp } from "../../main";
import { copyExamples, EXAMPLE_FILES, minimalTemplate, removeTempDirs, REPO, tempDir, writeTemplate } from "./_fixtures";

const run = promisify(execFile);
afterAll(removeTempDirs);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function runIn(cmd: string, args: string[], env: Record<string, string>): Promise<Result> {
  try {
    const { stdout, stderr } = await run(cmd, args, {
      cwd: REPO,
      env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env },
      // cdktf synth starts the CLI, npx and tsx before the app: slow when the machine is busy.
      timeout: 240_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const tsx = join(REPO, "node_modules", ".bin", "tsx");
const cdktf = join(REPO, "node_modules", ".bin", "cdktf");

/** An output directory holding a stale file from an earlier run. */
function staleOutdir(): string {
  const outdir = join(tempDir("out"), "cdktf.out");
  mkdirSync(join(outdir, "stacks", "old-stack"), { recursive: true });
  writeFileSync(join(outdir, "stacks", "old-stack", "cdk.tf.json"), "{}");
  return outdir;
}

describe("synthesizing from the command line", () => {
  test("tsx main.ts writes every example stack into CDKTF_OUTDIR and drops stale stacks", async () => {
    const outdir = staleOutdir();
    const r = await runIn(tsx, ["main.ts"], { CDKTF_OUTDIR: outdir });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const stacks = readdirSync(join(outdir, "stacks"));
    for (const f of EXAMPLE_FILES) expect(stacks).toContain(`${f.replace(".yaml", "")}-cluster`);
    expect(stacks).not.toContain("old-stack");
    expect(readdirSync(join(outdir, ".."))).toEqual(["cdktf.out"]);
  }, 300_000);

  test("the bundled app synthesizes byte for byte what main.ts does through tsx", async () => {
    // Rebuilt here so the comparison is with the sources under test, not an older `make build`.
    expect(await runIn(tsx, ["scripts/build-dist.ts", "app"], {})).toMatchObject({ code: 0, stderr: "" });
    const fromSource = join(tempDir("out"), "cdktf.out");
    const fromBundle = join(tempDir("out"), "cdktf.out");
    expect(await runIn(tsx, ["main.ts"], { CDKTF_OUTDIR: fromSource })).toMatchObject({ code: 0, stderr: "" });
    expect(await runIn(join(REPO, "bin", "cdktf-app"), [], { CDKTF_OUTDIR: fromBundle })).toMatchObject({ code: 0, stderr: "" });
    const stacks = readdirSync(join(fromSource, "stacks")).sort();
    expect(readdirSync(join(fromBundle, "stacks")).sort()).toEqual(stacks);
    expect(stacks).toHaveLength(EXAMPLE_FILES.length * 2);
    for (const stack of stacks) {
      const file = join("stacks", stack, "cdk.tf.json");
      expect(readFileSync(join(fromBundle, file), "utf8")).toBe(readFileSync(join(fromSource, file), "utf8"));
    }
  }, 300_000);

  test("a malformed template fails with every problem listed and leaves no output", async () => {
    const envs = copyExamples();
    writeTemplate(envs, "acme-dev.yaml", minimalTemplate({ team: "acme", region: "nowhere", mode: "hybrid" }));
    writeTemplate(envs, "globex-dev.yaml", "team: globex\nenv: dev\nproject: p\n");
    const outdir = staleOutdir();
    const r = await runIn(tsx, ["main.ts"], { CDKTF_OUTDIR: outdir, FLOWLENS_ENVIRONMENTS_DIR: envs });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("acme-dev.yaml: region: must be a GCP region like europe-west1");
    expect(r.stderr).toMatch(/acme-dev\.yaml: mode: Invalid enum value\. Expected 'standard' \| 'autopilot', received 'hybrid'/);
    expect(r.stderr).toMatch(/globex-dev\.yaml: project: must be a GCP project id/);
    expect(r.stderr).toMatch(/globex-dev\.yaml: region: Required/);
    expect(existsSync(outdir)).toBe(false);
    expect(readdirSync(join(outdir, ".."))).toEqual([]);
  }, 300_000);

  test("cdktf synth (which asks the app to continue past errors) still fails on a policy violation and leaves no output", async () => {
    const envs = copyExamples(["globex-dev.yaml"]);
    writeTemplate(envs, "demo-prod.yaml", minimalTemplate({ env: "prod", deletionProtection: false, controlPlane: { privateEndpoint: true } }));
    const outdir = staleOutdir();
    const r = await runIn(cdktf, ["synth", "--output", outdir], { FLOWLENS_ENVIRONMENTS_DIR: envs });
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(
      /\[demo-prod-cluster\/gke\/cluster\] production cluster without deletion protection; set deletionProtection: true/,
    );
    expect(existsSync(outdir)).toBe(false);
  }, 300_000);
});

describe("synthesizeAtomically", () => {
  const continueFlag = "CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS";
  afterEach(() => {
    delete process.env[continueFlag];
  });

  test("collects violations from every stack when the CLI asks to continue past errors", () => {
    process.env[continueFlag] = "true";
    const envs = tempDir("envs");
    writeTemplate(envs, "one-prod.yaml", minimalTemplate({ team: "one", env: "prod", controlPlane: { privateEndpoint: true }, deletionProtection: false }));
    writeTemplate(envs, "two-prod.yaml", minimalTemplate({ team: "two", env: "prod" }));
    const outdir = join(tempDir("out"), "cdktf.out");
    let error: unknown;
    try {
      synthesizeAtomically(outdir, (dir) => buildApp({ environmentsDir: envs, outdir: dir }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).violations).toEqual([
      expect.stringMatching(/^\[one-prod-cluster\/gke\/cluster\] production cluster without deletion protection/),
      expect.stringMatching(/^\[two-prod-cluster\/gke\/cluster\] public control-plane endpoint without authorized networks/),
    ]);
    expect(readdirSync(join(outdir, ".."))).toEqual([]);
  });
});
