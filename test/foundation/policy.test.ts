// Each policy check fails `app.synth()` (as the cdktf CLI runs the app) with a message naming the problem.
import { join } from "node:path";
import { App, Testing } from "cdktf";
import { ContainerNodePool } from "@cdktf/provider-google/lib/container-node-pool";
import { ContainerCluster } from "@cdktf/provider-google/lib/container-cluster";
import { buildApp } from "../../main";
import { ClusterStack } from "../../stacks/cluster-stack";
import { policyViolations } from "../../stacks/synthesize";
import { AUTOPILOT_FORBIDDEN } from "../../constructs/policy/autopilot-compatibility";
import { copyExamples, minimalTemplate, removeTempDirs, tempDir, writeTemplate } from "./_fixtures";

afterAll(removeTempDirs);

function appFor(template: Record<string, unknown>): { app: App; stack: ClusterStack } {
  const dir = tempDir("policy");
  writeTemplate(dir, `${template.team}-${template.env}.yaml`, template);
  const app = buildApp({ environmentsDir: dir, outdir: join(tempDir("out"), "cdktf.out") });
  const stack = app.node.findChild(`${template.team}-${template.env}-cluster`) as ClusterStack;
  return { app, stack };
}

function clusterOf(stack: ClusterStack): ContainerCluster {
  return stack.gke.cluster;
}

describe("policy checks at synth time", () => {
  test("a production cluster without deletion protection fails synth and names the template", () => {
    const { app } = appFor(
      minimalTemplate({ env: "prod", deletionProtection: false, controlPlane: { privateEndpoint: true } }),
    );
    expect(() => app.synth()).toThrow(
      /\[demo-prod-cluster\/gke\/cluster\] production cluster without deletion protection; set deletionProtection: true in .*demo-prod\.yaml/,
    );
  });

  test("a production cluster with a public endpoint and no authorized networks fails synth", () => {
    const { app } = appFor(minimalTemplate({ env: "prod" }));
    expect(() => app.synth()).toThrow(
      /public control-plane endpoint without authorized networks; add controlPlane\.authorizedNetworks or set controlPlane\.privateEndpoint: true/,
    );
  });

  test("a production cluster passes with authorized networks or a private endpoint", () => {
    for (const controlPlane of [{ authorizedNetworks: [{ name: "vpn", cidr: "198.51.100.0/24" }] }, { privateEndpoint: true }]) {
      const { app } = appFor(minimalTemplate({ env: "prod", controlPlane }));
      expect(() => app.synth()).not.toThrow();
      expect(policyViolations(app)).toEqual([]);
    }
  });

  test("outside production a public endpoint without authorized networks is a warning, not an error", () => {
    const { stack } = appFor(minimalTemplate({ env: "dev" }));
    const synthesized = Testing.synth(stack, true);
    expect(synthesized).toContain("google_container_cluster");
    const warnings = stack.gke.cluster.node.metadata.filter((m) => m.type === "@cdktf/warn").map((m) => m.data);
    expect(warnings).toEqual([expect.stringMatching(/^public control-plane endpoint without authorized networks/)]);
    expect(stack.gke.cluster.node.metadata.filter((m) => m.type === "@cdktf/error")).toEqual([]);
  });

  test.each(AUTOPILOT_FORBIDDEN.map((p) => [p]))("an Autopilot cluster that sets %s fails synth", (path) => {
    const { app, stack } = appFor(minimalTemplate({ mode: "autopilot" }));
    clusterOf(stack).addOverride(path, path.endsWith("enabled") ? true : path === "node_pool" ? [{ name: "x" }] : "x");
    expect(() => app.synth()).toThrow(`Autopilot cluster sets ${path}, which Autopilot rejects; remove it or use mode: standard`);
  });

  test("a node pool added next to an Autopilot cluster fails synth", () => {
    const { app, stack } = appFor(minimalTemplate({ mode: "autopilot" }));
    new ContainerNodePool(stack, "extra-pool", {
      cluster: clusterOf(stack).name,
      nodeConfig: { resourceLabels: { team: "demo", env: "dev" } },
    });
    expect(() => app.synth()).toThrow(/\[demo-dev-cluster\/extra-pool\] a node pool next to an Autopilot cluster is rejected by GKE/);
  });

  test("a labelled resource without the team and env labels fails synth", () => {
    const { app, stack } = appFor(minimalTemplate());
    new ContainerNodePool(stack, "unlabelled-pool", { cluster: clusterOf(stack).name, nodeConfig: { machineType: "e2-medium" } });
    expect(() => app.synth()).toThrow(
      /\[demo-dev-cluster\/unlabelled-pool\] google_container_node_pool is missing the labels team=demo, env=dev in node_config\.resource_labels/,
    );
  });

  test("a cluster whose labels were overridden with other values fails synth", () => {
    const { app, stack } = appFor(minimalTemplate());
    clusterOf(stack).addOverride("resource_labels.team", "someone-else");
    expect(() => app.synth()).toThrow(/google_container_cluster is missing the labels team=demo in resource_labels/);
  });

  test("every violation of a stack is reported together", () => {
    const dir = copyExamples(["acme-dev.yaml"]);
    writeTemplate(dir, "demo-prod.yaml", minimalTemplate({ env: "prod", deletionProtection: false }));
    const app = buildApp({ environmentsDir: dir, outdir: join(tempDir("out"), "cdktf.out") });
    let message = "";
    try {
      app.synth();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/deletion protection/);
    expect(message).toMatch(/public control-plane endpoint/);
  });
});
