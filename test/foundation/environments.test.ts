import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EnvironmentError, loadEnvironmentFiles, loadEnvironments } from "../../environments/load";
import { environmentJsonSchema, JSON_SCHEMA_PATH } from "../../environments/emit-json-schema";
import { EXAMPLE_FILES, EXAMPLES_DIR, minimalTemplate, removeTempDirs, tempDir, writeTemplate } from "./_fixtures";

afterAll(removeTempDirs);

function problemsOf(dir: string) {
  try {
    loadEnvironments(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(EnvironmentError);
    return (err as EnvironmentError).problems;
  }
  throw new Error("expected loadEnvironments to throw");
}

describe("environment templates", () => {
  test("the shipped examples cover Standard dev and prod, Autopilot dev and a second team", () => {
    const envs = loadEnvironments(EXAMPLES_DIR);
    expect(envs.length).toBeGreaterThanOrEqual(4);
    const has = (p: (e: (typeof envs)[number]) => boolean) => envs.some(p);
    expect(has((e) => e.mode === "standard" && e.env === "dev")).toBe(true);
    expect(has((e) => e.mode === "standard" && e.env === "prod")).toBe(true);
    expect(has((e) => e.mode === "autopilot")).toBe(true);
    expect(new Set(envs.map((e) => e.team)).size).toBeGreaterThanOrEqual(2);
    expect(EXAMPLE_FILES).toEqual(envs.map((e) => `${e.team}-${e.env}.yaml`).sort());
  });

  test("a minimal template gets every documented default", () => {
    const dir = tempDir("min");
    writeTemplate(dir, "demo-dev.yaml", minimalTemplate());
    const [e] = loadEnvironments(dir);
    expect(e.network).toEqual({
      nodesCidr: "10.10.0.0/20",
      podsCidr: "10.20.0.0/14",
      servicesCidr: "10.24.0.0/20",
      controlPlaneCidr: "172.16.0.0/28",
    });
    expect(e.controlPlane).toEqual({ privateEndpoint: false, authorizedNetworks: [] });
    expect(e.releaseChannel).toBe("REGULAR");
    expect(e.deletionProtection).toBe(true);
    expect(e.backend).toEqual({ type: "local" });
    expect(e.platform).toEqual({
      flowObservability: { enabled: true, ringCapacity: 65536, uiAuth: { mode: "token" } },
      egressNat: { destinations: [] },
      policyLogging: { enabled: true, allow: false, deny: true, delegate: false },
      microservicesDemo: { enabled: false },
      sidecarMesh: { enabled: false, istioVersion: "1.27.1" },
    });
  });

  test("every problem in every file is reported at once with file, field path and message", () => {
    const dir = tempDir("bad");
    const a = writeTemplate(dir, "demo-dev.yaml", minimalTemplate({ region: "Europe", network: { podsCidr: "10.20.0.1/14" } }));
    const b = writeTemplate(
      dir,
      "demo-qa.yaml",
      minimalTemplate({ env: "qa", mode: "autopilot", nodePool: { machineType: "e2-medium" }, colour: "blue" }),
    );
    const problems = problemsOf(dir);
    expect(problems).toEqual(
      expect.arrayContaining([
        { file: a, path: "region", message: "must be a GCP region like europe-west1" },
        expect.objectContaining({ file: a, path: "network.podsCidr", message: expect.stringContaining("host bits set") }),
        expect.objectContaining({ file: b, path: "", message: expect.stringContaining("colour") }),
      ]),
    );
    // Autopilot cross-field checks run once the object itself is well-formed.
    writeTemplate(dir, "demo-qa.yaml", minimalTemplate({ env: "qa", mode: "autopilot", nodePool: {}, zones: ["europe-west1-b"] }));
    expect(problemsOf(dir)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: b, path: "nodePool", message: expect.stringContaining("Autopilot manages nodes") }),
        expect.objectContaining({ file: b, path: "zones", message: expect.stringContaining("Autopilot") }),
      ]),
    );
  });

  test("the error message lists each problem on its own line", () => {
    const dir = tempDir("msg");
    writeTemplate(dir, "demo-dev.yaml", minimalTemplate({ mode: "serverless", releaseChannel: "NIGHTLY" }));
    expect(() => loadEnvironments(dir)).toThrow(/demo-dev\.yaml: mode: .*\n.*demo-dev\.yaml: releaseChannel: /);
  });

  test("overlapping ranges and a control plane range that is not a /28 are rejected", () => {
    const dir = tempDir("ranges");
    writeTemplate(
      dir,
      "demo-dev.yaml",
      minimalTemplate({ network: { nodesCidr: "10.0.0.0/16", podsCidr: "10.0.128.0/17", controlPlaneCidr: "172.16.0.0/24" } }),
    );
    const messages = problemsOf(dir).map((p) => `${p.path}: ${p.message}`);
    expect(messages).toContain("network.podsCidr: 10.0.128.0/17 overlaps nodesCidr 10.0.0.0/16; pick disjoint ranges");
    expect(messages).toContain("network.controlPlaneCidr: GKE needs a /28 for the control plane, got /24");
  });

  test("invalid nested values name their full path", () => {
    const dir = tempDir("nested");
    writeTemplate(
      dir,
      "demo-dev.yaml",
      minimalTemplate({
        nodePool: { minNodes: 5, maxNodes: 2 },
        zones: ["us-east1-b"],
        labels: { Team: "x", env: "dev" },
        backend: { type: "gcs", bucket: "B" },
        platform: {
          egressNat: { destinations: ["10.0.0.0/8", "nope"] },
          sidecarMesh: { istioVersion: "latest" },
          flowObservability: { uiAuth: { mode: "iap" } },
        },
      }),
    );
    const paths = problemsOf(dir).map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "nodePool.minNodes",
        "labels.Team",
        "backend.bucket",
        "platform.egressNat.destinations[1]",
        "platform.sidecarMesh.istioVersion",
        "platform.flowObservability.uiAuth.audience",
      ]),
    );
  });

  test("region mismatch of zones, reserved labels, YAML syntax, file name and duplicates are reported", () => {
    const dir = tempDir("misc");
    writeTemplate(dir, "demo-dev.yaml", minimalTemplate({ zones: ["us-east1-b"], labels: { env: "dev" } }));
    writeTemplate(dir, "demo-qa.yaml", "team: demo\nenv: [qa\n");
    writeTemplate(dir, "other-name.yaml", minimalTemplate({ env: "stage" }));
    writeTemplate(dir, "demo-dev.yml", minimalTemplate());
    const messages = problemsOf(dir).map((p) => `${p.file.split("/").pop()} ${p.path}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        "demo-dev.yaml zones[0]: zone us-east1-b is not in region europe-west1",
        expect.stringMatching(/^demo-dev\.yaml labels\.env: the "env" label is set from the template's env field/),
        expect.stringMatching(/^demo-qa\.yaml : YAML syntax: /),
        "other-name.yaml : file name must be demo-stage.yaml to match team and env; rename the file",
        expect.stringMatching(/^demo-dev\.yml : demo-dev is already defined in .*demo-dev\.yaml/),
      ]),
    );
  });

  test("an empty or missing directory is an error that says how to create a template", () => {
    expect(() => loadEnvironments(tempDir("empty"))).toThrow(/no <team>-<env>\.yaml templates; create one with `flowlens env new`/);
    expect(() => loadEnvironments(join(tempDir("gone"), "nope"))).toThrow(/cannot read the directory/);
  });

  test("loadEnvironmentFiles keeps the source file of each environment", () => {
    const loaded = loadEnvironmentFiles(EXAMPLES_DIR);
    for (const l of loaded) expect(l.file).toBe(join(EXAMPLES_DIR, `${l.config.team}-${l.config.env}.yaml`));
  });

  test("the committed JSON Schema matches the zod schema and documents defaults", () => {
    const committed = readFileSync(JSON_SCHEMA_PATH, "utf8");
    expect(committed).toBe(environmentJsonSchema());
    const schema = JSON.parse(committed);
    const props = schema.definitions.Environment.properties;
    expect(schema.definitions.Environment.required).toEqual(["team", "env", "project", "region", "mode"]);
    expect(schema.definitions.Environment.additionalProperties).toBe(false);
    // Every optional top-level field states its default in the description editors show.
    for (const [name, prop] of Object.entries<any>(props)) {
      if (schema.definitions.Environment.required.includes(name)) continue;
      expect(`${name}: ${prop.description}`).toMatch(/Default:/);
    }
  });

  test("every example template points editors at the JSON Schema", () => {
    for (const f of EXAMPLE_FILES) {
      expect(readFileSync(join(EXAMPLES_DIR, f), "utf8")).toMatch(/^# yaml-language-server: \$schema=\.\/environment\.schema\.json/);
    }
  });
});
