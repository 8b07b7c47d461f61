// `flowlens env new` writes a template that loads, synthesizes and passes the policy checks as written.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../cli/commands/env";
import { loadEnvironments } from "../../environments/load";
import { buildApp } from "../../main";
import { policyViolations } from "../../stacks/synthesize";
import { removeTempDirs, tempDir } from "./_fixtures";

afterAll(removeTempDirs);

/** Runs the command, capturing what it prints. */
async function envCommand(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const write = (sink: "out" | "err") => (chunk: string | Uint8Array) => {
    if (sink === "out") out += String(chunk);
    else err += String(chunk);
    return true;
  };
  const stdout = jest.spyOn(process.stdout, "write").mockImplementation(write("out"));
  const stderr = jest.spyOn(process.stderr, "write").mockImplementation(write("err"));
  try {
    const code = await run(argv);
    return { code, out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe("flowlens env new", () => {
  test.each([
    ["standard", "dev"],
    ["standard", "prod"],
    ["autopilot", "dev"],
    ["autopilot", "production"],
  ])("a %s %s template loads and synthesizes without policy violations", async (mode, env) => {
    const dir = tempDir("new");
    const r = await envCommand(["new", "--team", "newteam", "--env", env, "--mode", mode, "--project", "newteam-proj-1", "--dir", dir]);
    expect(r).toEqual({ code: 0, out: `wrote ${join(dir, `newteam-${env}.yaml`)}; stack id newteam-${env}-cluster\n`, err: "" });
    const [e] = loadEnvironments(dir);
    expect(e).toMatchObject({ team: "newteam", env, mode, project: "newteam-proj-1", deletionProtection: true });
    expect(e.nodePool !== undefined).toBe(mode === "standard");
    const app = buildApp({ environmentsDir: dir, outdir: join(tempDir("out"), "cdktf.out") });
    app.synth();
    expect(policyViolations(app)).toEqual([]);
  });

  test("the template spells out every platform part and points editors at the schema", async () => {
    const dir = tempDir("new");
    await envCommand(["new", "--team", "t", "--env", "dev", "--mode", "standard", "--dir", dir]);
    const text = readFileSync(join(dir, "t-dev.yaml"), "utf8");
    expect(text.split("\n")[0]).toBe("# yaml-language-server: $schema=./environment.schema.json");
    expect(text).toContain("# Replace `project` with your GCP project id.");
    for (const key of ["flowObservability:", "egressNat:", "policyLogging:", "microservicesDemo:", "sidecarMesh:", "istioVersion:"]) {
      expect(text).toContain(key);
    }
  });

  test("an existing template is kept unless --force is given", async () => {
    const dir = tempDir("new");
    const file = join(dir, "t-dev.yaml");
    writeFileSync(file, "# mine\n");
    const r = await envCommand(["new", "--team", "t", "--env", "dev", "--mode", "standard", "--dir", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`flowlens env: ${file} already exists; edit it, or pass --force to overwrite it\n`);
    expect(readFileSync(file, "utf8")).toBe("# mine\n");
    expect((await envCommand(["new", "--team", "t", "--env", "dev", "--mode", "standard", "--dir", dir, "--force"])).code).toBe(0);
    expect(readFileSync(file, "utf8")).toContain("team: t");
  });

  test("bad flags are usage errors that say what to fix, and nothing is written", async () => {
    const dir = tempDir("new");
    expect(await envCommand(["new", "--env", "dev", "--mode", "standard", "--dir", dir])).toMatchObject({
      code: 2,
      err: "flowlens env: --team is required; run `flowlens env new --help`\n",
    });
    expect(await envCommand(["new", "--team", "t", "--env", "dev", "--mode", "gke", "--dir", dir])).toMatchObject({
      code: 2,
      err: 'flowlens env: --mode must be standard or autopilot, got "gke"\n',
    });
    const r = await envCommand(["new", "--team", "Team_A", "--env", "dev", "--mode", "standard", "--project", "good-project", "--dir", dir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("team: must be 1-12 lowercase letters or digits, starting with a letter");
    expect(await envCommand(["delete"])).toMatchObject({ code: 2, err: expect.stringContaining('unknown subcommand "delete"') });
    expect(() => loadEnvironments(dir)).toThrow(/no <team>-<env>\.yaml templates/);
  });
});
