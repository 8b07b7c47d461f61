import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp } from "../../main";
import { changedStacks } from "../../stacks/changed-stacks";
import { copyExamples, removeTempDirs, tempDir } from "./_fixtures";

afterAll(removeTempDirs);

function synth(envs: string): string {
  const outdir = join(tempDir("out"), "cdktf.out");
  buildApp({ environmentsDir: envs, outdir }).synth();
  return outdir;
}

describe("changed stacks between two synthesized outputs", () => {
  let envs: string;
  let base: string;
  beforeAll(() => {
    envs = copyExamples(["acme-dev.yaml", "globex-dev.yaml"]);
    base = synth(envs);
  });

  test("an unchanged app changes nothing, even in a different output directory", () => {
    expect(changedStacks(base, synth(envs))).toEqual({ all: [], cluster: [], platform: [], removed: [] });
  });

  test("editing one template changes only that environment's cluster stack", () => {
    const changed = copyExamples(["acme-dev.yaml", "globex-dev.yaml"]);
    const file = join(changed, "globex-dev.yaml");
    writeFileSync(file, `${readFileSync(file, "utf8")}nodePool:\n  maxNodes: 7\n`);
    const result = changedStacks(base, synth(changed));
    expect(result.cluster).toEqual(["globex-dev-cluster"]);
    expect(result.all[0]).toBe("globex-dev-cluster");
    expect(result.removed).toEqual([]);
  });

  test("a removed environment is listed apart and never planned", () => {
    const fewer = copyExamples(["acme-dev.yaml"]);
    const result = changedStacks(base, synth(fewer));
    expect(result.all).toEqual([]);
    expect(result.removed).toEqual(expect.arrayContaining(["globex-dev-cluster"]));
  });

  test("with no base output every stack is new", () => {
    const result = changedStacks(join(tempDir("none"), "cdktf.out"), base);
    expect(result.cluster).toEqual(["acme-dev-cluster", "globex-dev-cluster"]);
  });

  test("a head without stacks is an error that says to synthesize", () => {
    const empty = tempDir("empty");
    mkdirSync(join(empty, "stacks"));
    expect(() => changedStacks(base, empty)).toThrow(/holds no synthesized stacks; run cdktf synth first/);
  });
});
