// The platform stacks as `cdktf synth` produces them (main.ts's buildApp, then app.synth()), for a
// Standard and an Autopilot environment with every part enabled, and one with the defaults.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { buildApp } from "../../main";
import type { EnvironmentInput } from "../../environments/schema";
import { NETWORK_LOGGING_IMPORT_ID } from "../../constructs/policy-logging";
import { chartDigest } from "../../constructs/flowlens-release";
import { validateKubeObject, KubeObject } from "../chart/kube-validate";
import { findManifest, Json, manifestsOf, releases, tempDir, writeTemplates } from "./_synth";

const base = {
  team: "plat",
  project: "plat-flowlens-test",
  region: "europe-west1",
  deletionProtection: false,
  controlPlane: { authorizedNetworks: [{ name: "office", cidr: "203.0.113.0/24" }] },
};

const everything = {
  flowObservability: { enabled: true, ringCapacity: 131072 },
  egressNat: { destinations: ["192.168.0.0/16", "172.31.0.0/16"] },
  policyLogging: { enabled: true, allow: true, deny: true, delegate: false },
  microservicesDemo: { enabled: true },
  sidecarMesh: { enabled: true, istioVersion: "1.27.1" },
};

const TEMPLATES: EnvironmentInput[] = [
  { ...base, env: "std", mode: "standard", platform: everything },
  {
    ...base,
    env: "auto",
    mode: "autopilot",
    platform: { ...everything, policyLogging: { enabled: true, allow: true, deny: true, delegate: true } },
  },
  { ...base, env: "plain", mode: "standard" },
];

const out = tempDir("platform-synth");
const envDir = tempDir("platform-envs");
let std: Json;
let auto: Json;
let plain: Json;

beforeAll(() => {
  writeTemplates(envDir.dir, TEMPLATES);
  buildApp({ environmentsDir: envDir.dir, outdir: out.dir }).synth();
  std = out.stack("plat-std-platform");
  auto = out.stack("plat-auto-platform");
  plain = out.stack("plat-plain-platform");
});

afterAll(() => {
  out.remove();
  envDir.remove();
});

const flowlensValues = (stack: Json): Json => parse(releases(stack).find((r) => r.name === "flowlens")!.values[0]);

describe("the platform stack", () => {
  test("every environment gets a <team>-<env>-platform stack next to its cluster stack", () => {
    const stacks = readdirSync(join(out.dir, "stacks")).sort();
    expect(stacks).toEqual([
      "plat-auto-cluster",
      "plat-auto-platform",
      "plat-plain-cluster",
      "plat-plain-platform",
      "plat-std-cluster",
      "plat-std-platform",
    ]);
  });

  test.each(["std", "auto"])("the %s providers use the cluster stack's outputs and an access token, no kubeconfig", (env) => {
    const stack = env === "std" ? std : auto;
    const remote = `data.terraform_remote_state.cross-stack-reference-input-plat-${env}-cluster.outputs`;
    const token = Object.keys(stack.data.google_client_config);
    expect(token).toHaveLength(1);
    const expected = {
      host: expect.stringMatching(new RegExp(`^https://\\$\\{${remote.replace(/\./g, "\\.")}\\.[^}]*endpoint\\}$`)),
      token: `\${data.google_client_config.${token[0]}.access_token}`,
      cluster_ca_certificate: expect.stringMatching(/^\$\{base64decode\(data\.terraform_remote_state\..*cluster_ca_certificate\)\}$/),
    };
    expect(stack.provider.kubernetes[0]).toEqual(expected);
    expect(stack.provider.helm[0].kubernetes).toEqual(expected);
    expect(JSON.stringify(stack)).not.toMatch(/config_path|kubeconfig/);
  });

  test("Flowlens installs from the local chart with the Standard or Autopilot profile", () => {
    for (const [stack, profile] of [[std, "standard"], [auto, "autopilot"]] as const) {
      const release = releases(stack).find((r) => r.name === "flowlens")!;
      expect(release.chart).toBe("../../../charts/flowlens");
      expect(release.repository).toBeUndefined();
      expect(release.namespace).toBe("flowlens");
      expect(release.description).toBe(`flowlens chart sha256:${chartDigest()}`);
      const values = flowlensValues(stack);
      expect(values.profile).toBe(profile);
      expect(values.agent.ringCapacity).toBe(131072);
      expect(values.image.repository).toBe("europe-west1-docker.pkg.dev/plat-flowlens-test/flowlens/flowlens");
    }
  });

  test("egress NAT is an EgressNATPolicy on Autopilot and the ip-masq-agent ConfigMap on Standard, same destinations", () => {
    const policy = findManifest(auto, "EgressNATPolicy", "flowlens-no-snat")!;
    expect(policy.spec).toEqual({ action: "NoSNAT", destinations: [{ cidr: "192.168.0.0/16" }, { cidr: "172.31.0.0/16" }] });
    expect(findManifest(auto, "ConfigMap", "ip-masq-agent")).toBeUndefined();
    const masq = findManifest(std, "ConfigMap", "ip-masq-agent", "kube-system")!;
    const config = JSON.parse(masq.data.config);
    expect(config.nonMasqueradeCIDRs).toEqual(expect.arrayContaining(["192.168.0.0/16", "172.31.0.0/16", "10.20.0.0/14"]));
    expect(manifestsOf(std).filter((m) => m.kind === "EgressNATPolicy")).toEqual([]);
    expect(findManifest(plain, "ConfigMap", "ip-masq-agent")).toBeUndefined();
  });

  test("NetworkLogging default is imported, never created, and delegation annotates policies and namespaces", () => {
    for (const stack of [std, auto]) {
      const [id, resource] = Object.entries(stack.resource.kubernetes_manifest as Record<string, Json>).find(
        ([, r]) => r.manifest.kind === "NetworkLogging",
      )!;
      expect(resource.manifest.metadata).toEqual({ name: "default" });
      expect(stack.import).toEqual([{ id: NETWORK_LOGGING_IMPORT_ID, to: `kubernetes_manifest.${id}` }]);
    }
    expect(findManifest(std, "NetworkLogging", "default")!.spec.cluster).toEqual({
      allow: { log: true, delegate: false },
      deny: { log: true, delegate: false },
    });
    expect(findManifest(auto, "NetworkLogging", "default")!.spec.cluster.allow).toEqual({ log: true, delegate: true });
    const autoPolicies = manifestsOf(auto).filter((m) => m.kind === "NetworkPolicy");
    expect(autoPolicies.length).toBeGreaterThanOrEqual(2);
    for (const p of autoPolicies) expect(p.metadata.annotations).toEqual({ "policy.network.gke.io/enable-logging": "true" });
    expect(flowlensValues(auto).networkPolicy.annotations).toEqual({ "policy.network.gke.io/enable-logging": "true" });
    for (const ns of manifestsOf(auto).filter((m) => m.kind === "Namespace")) {
      expect(ns.metadata.annotations).toEqual({ "policy.network.gke.io/enable-deny-logging": "true" });
    }
    for (const p of manifestsOf(std).filter((m) => m.kind === "NetworkPolicy")) expect(p.metadata.annotations).toEqual({});
  });

  test("microservices-demo runs twice: demo-ebpf plain and demo-sidecar injected after istiod, each with network policies", () => {
    const demos = releases(std).filter((r) => r.name === "onlineboutique");
    expect(demos.map((r) => r.namespace).sort()).toEqual(["demo-ebpf", "demo-sidecar"]);
    for (const demo of demos) {
      expect(demo.chart).toBe("oci://us-docker.pkg.dev/online-boutique-ci/charts/onlineboutique");
      const values = parse(demo.values[0]);
      expect(values.networkPolicies.create).toBe(true);
      expect(values.loadGenerator.create).toBe(false);
      expect(findManifest(std, "NetworkPolicy", "allow-benchmark-to-frontend", demo.namespace)).toBeDefined();
    }
    expect(findManifest(std, "Namespace", "demo-sidecar")!.metadata.labels).toEqual({ "istio-injection": "enabled" });
    expect(findManifest(std, "Namespace", "demo-ebpf")!.metadata.labels).toBeUndefined();
    const sidecar = demos.find((r) => r.namespace === "demo-sidecar")!;
    expect(sidecar.depends_on).toEqual(expect.arrayContaining([expect.stringMatching(/^helm_release\.sidecar-mesh_istiod/)]));
  });

  test("Istio base and istiod are installed only when the sidecar baseline is enabled", () => {
    const istio = releases(std).filter((r) => r.repository === "https://istio-release.storage.googleapis.com/charts");
    expect(istio.map((r) => [r.chart, r.version, r.namespace])).toEqual([
      ["base", "1.27.1", "istio-system"],
      ["istiod", "1.27.1", "istio-system"],
    ]);
    expect(releases(plain).map((r) => r.name)).toEqual(["flowlens"]);
  });

  test("the fortio Job drives both frontends at each fixed rate, alternating, then publishes the summary", () => {
    const job = findManifest(std, "Job", "fortio-compare-1", "flowlens-bench")!;
    const pod = job.spec.template.spec;
    const runs = (pod.initContainers as Json[]).map((c) => {
      const args = c.args as string[];
      return [args[args.indexOf("-qps") + 1], args[args.length - 1]];
    });
    expect(runs).toEqual(
      ["50", "200", "500"].flatMap((qps) => [
        [qps, "http://frontend.demo-ebpf.svc.cluster.local/"],
        [qps, "http://frontend.demo-sidecar.svc.cluster.local/"],
      ]),
    );
    for (const c of pod.initContainers as Json[]) expect(c.args).toEqual(expect.arrayContaining(["-p", "50,90,99", "-uniform"]));
    expect(pod.containers[0].command).toEqual(["node", "/scripts/summarize.js", "/results"]);
    const script = findManifest(std, "ConfigMap", "fortio-summary-script", "flowlens-bench")!;
    expect(script.data["summarize.js"]).toBe(readFileSync(join(__dirname, "../../constructs/fortio-benchmark/summarize.js"), "utf8"));
    expect(findManifest(std, "NetworkPolicy", "fortio-egress", "flowlens-bench")).toBeDefined();
  });

  test("every kubernetes_manifest validates against the Kubernetes or CRD schemas", () => {
    for (const stack of [std, auto, plain]) {
      expect(manifestsOf(stack).flatMap((m) => validateKubeObject(m as KubeObject))).toEqual([]);
    }
  });

  test("provider classes are deep-imported, never from a package index", () => {
    const files = ["stacks/platform-stack.ts", ...readdirSync(join(__dirname, "../../constructs"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `constructs/${f}`)];
    const offenders = files.filter((f) =>
      /from "@cdktf\/provider-[a-z]+"/.test(readFileSync(join(__dirname, "../..", f), "utf8")),
    );
    expect(offenders).toEqual([]);
  });
});
