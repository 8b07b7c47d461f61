// Synthesizes the shipped examples through app.synth(), as `cdktf synth` runs the app, and checks what
// Terraform would receive.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp } from "../../main";
import { loadEnvironments } from "../../environments/load";
import { AUTOPILOT_FORBIDDEN } from "../../constructs/policy/autopilot-compatibility";
import { attributeAt } from "../../constructs/policy/_resources";
import { all, EXAMPLES_DIR, only, readStack, removeTempDirs, StackJson, tempDir } from "./_fixtures";

let outdir: string;
const stacks = new Map<string, StackJson>();
const environments = loadEnvironments(EXAMPLES_DIR);
const standard = environments.filter((e) => e.mode === "standard").map((e) => `${e.team}-${e.env}-cluster`);
const autopilot = environments.filter((e) => e.mode === "autopilot").map((e) => `${e.team}-${e.env}-cluster`);

beforeAll(() => {
  outdir = join(tempDir("synth"), "cdktf.out");
  buildApp({ environmentsDir: EXAMPLES_DIR, outdir }).synth();
  for (const e of environments) stacks.set(`${e.team}-${e.env}-cluster`, readStack(outdir, `${e.team}-${e.env}-cluster`));
});
afterAll(removeTempDirs);

const cluster = (id: string) => only(stacks.get(id)!, "google_container_cluster");

describe("every example environment", () => {
  test("becomes one <team>-<env>-cluster stack in the manifest", () => {
    const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));
    const clusterStacks = Object.keys(manifest.stacks).filter((id) => id.endsWith("-cluster"));
    expect(clusterStacks.sort()).toEqual(environments.map((e) => `${e.team}-${e.env}-cluster`).sort());
    expect(standard.length).toBeGreaterThanOrEqual(3);
    expect(autopilot.length).toBeGreaterThanOrEqual(1);
  });

  test.each(environments.map((e) => [`${e.team}-${e.env}-cluster`, e] as const))(
    "%s has a VPC, subnet with pod and service ranges, router, NAT and private-cluster firewall rules",
    (id, e) => {
      const s = stacks.get(id)!;
      expect(only(s, "google_compute_network")).toMatchObject({ auto_create_subnetworks: false });
      const subnet = only(s, "google_compute_subnetwork");
      expect(subnet).toMatchObject({ ip_cidr_range: e.network.nodesCidr, private_ip_google_access: true, region: e.region });
      expect(subnet.secondary_ip_range).toEqual([
        { range_name: "pods", ip_cidr_range: e.network.podsCidr },
        { range_name: "services", ip_cidr_range: e.network.servicesCidr },
      ]);
      expect(only(s, "google_compute_router").network).toMatch(/google_compute_network\..*\.id/);
      expect(only(s, "google_compute_router_nat")).toMatchObject({
        source_subnetwork_ip_ranges_to_nat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
        nat_ip_allocate_option: "AUTO_ONLY",
      });
      const webhook = all(s, "google_compute_firewall").find((f) => f.source_ranges?.includes(e.network.controlPlaneCidr));
      expect(webhook).toMatchObject({ direction: "INGRESS", allow: [{ protocol: "tcp", ports: ["8443", "9443", "15017"] }] });
      expect(webhook!.target_service_accounts).toEqual(["${google_service_account.node-identity_account_B648AB82.email}"]);
    },
  );

  test.each(environments.map((e) => [`${e.team}-${e.env}-cluster`, e] as const))(
    "%s gives nodes a dedicated least-privilege service account, never the Compute Engine default",
    (id, e) => {
      const s = stacks.get(id)!;
      const sa = only(s, "google_service_account");
      expect(sa.account_id).toBe(`${e.team}-${e.env}-node`);
      const roles = all(s, "google_project_iam_member").map((m) => m.role).sort();
      expect(roles).toEqual([
        "roles/artifactregistry.reader",
        "roles/autoscaling.metricsWriter",
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/monitoring.viewer",
        "roles/stackdriver.resourceMetadata.writer",
      ]);
      expect(roles.some((r) => /editor|owner|admin/i.test(r))).toBe(false);
      const sas = JSON.stringify(s.resource).match(/"service_account":"[^"]*"/g) ?? [];
      expect(sas.length).toBeGreaterThan(0);
      for (const ref of sas) expect(ref).toContain("${google_service_account.node-identity_account_B648AB82.email}");
    },
  );

  test.each(environments.map((e) => [`${e.team}-${e.env}-cluster`, e] as const))(
    "%s runs a private cluster with DPv2 observability, managed Prometheus, logging and Workload Identity",
    (id, e) => {
      const c = cluster(id);
      expect(c.monitoring_config.advanced_datapath_observability_config).toEqual({ enable_metrics: true, enable_relay: true });
      expect(c.monitoring_config.managed_prometheus).toEqual({ enabled: true });
      expect(c.logging_config.enable_components).toEqual(["SYSTEM_COMPONENTS", "WORKLOADS"]);
      expect(c.release_channel).toEqual({ channel: e.releaseChannel });
      expect(c.workload_identity_config).toEqual({ workload_pool: `${e.project}.svc.id.goog` });
      expect(c.private_cluster_config).toMatchObject({
        enable_private_nodes: true,
        enable_private_endpoint: e.controlPlane.privateEndpoint,
        master_ipv4_cidr_block: e.network.controlPlaneCidr,
      });
      expect(c.ip_allocation_policy).toEqual({ cluster_secondary_range_name: "pods", services_secondary_range_name: "services" });
      expect(c.deletion_protection).toBe(e.deletionProtection);
      expect(c.location).toBe(e.region);
    },
  );

  test.each(environments.map((e) => [`${e.team}-${e.env}-cluster`, e] as const))(
    "%s labels every labelled resource with team and env and sets them as provider defaults",
    (id, e) => {
      const s = stacks.get(id)!;
      const expected = { ...e.labels, team: e.team, env: e.env, "managed-by": "flowlens" };
      expect(cluster(id).resource_labels).toEqual(expected);
      for (const pool of all(s, "google_container_node_pool")) expect(pool.node_config.resource_labels).toEqual(expected);
      // Hyphenated keys stay hyphenated (cdktf would snake-case them in a provider block without the override).
      expect(s.provider.google[0]).toEqual({ project: e.project, region: e.region, default_labels: expected });
    },
  );

  test.each(environments.map((e) => [`${e.team}-${e.env}-cluster`, e] as const))(
    "%s outputs endpoint, CA certificate, name, location and project for the platform stack",
    (id) => {
      const out = stacks.get(id)!.output;
      expect(Object.keys(out)).toEqual(expect.arrayContaining(["ca-certificate", "cluster-name", "endpoint", "location", "project"]));
      expect(out.endpoint).toEqual({ sensitive: true, value: expect.stringMatching(/google_container_cluster\..*\.endpoint}$/) });
      expect(out["ca-certificate"]).toEqual({
        sensitive: true,
        value: expect.stringMatching(/master_auth\[0\]\.cluster_ca_certificate}$/),
      });
      expect(out["cluster-name"].sensitive).toBeUndefined();
    },
  );

  test("the Google provider is pinned to the version the bindings were generated for", () => {
    for (const s of stacks.values()) expect(s.terraform.required_providers.google).toEqual({ source: "google", version: "6.50.0" });
  });
});

describe("Standard environments", () => {
  test.each(standard)("%s uses ADVANCED_DATAPATH, shielded nodes and removes the default pool", (id) => {
    const c = cluster(id);
    expect(c.datapath_provider).toBe("ADVANCED_DATAPATH");
    expect(c.enable_shielded_nodes).toBe(true);
    expect(c.remove_default_node_pool).toBe(true);
    expect(c.initial_node_count).toBe(1);
    expect(c.enable_autopilot).toBeUndefined();
    // DPv2 enforces NetworkPolicy itself; the Calico add-on would conflict.
    expect(c.network_policy).toBeUndefined();
  });

  test.each(standard)("%s has a separately managed, autoscaled, shielded node pool on the cluster", (id) => {
    const e = environments.find((x) => `${x.team}-${x.env}-cluster` === id)!;
    const pool = only(stacks.get(id)!, "google_container_node_pool");
    const expectedPool = { minNodes: 1, maxNodes: 3, machineType: "e2-standard-4", diskSizeGb: 100, spot: false, ...e.nodePool };
    expect(pool.cluster).toMatch(/^\$\{google_container_cluster\..*\.name}$/);
    expect(pool.autoscaling).toEqual({ min_node_count: expectedPool.minNodes, max_node_count: expectedPool.maxNodes });
    expect(pool.management).toEqual({ auto_repair: true, auto_upgrade: true });
    expect(pool.node_config).toMatchObject({
      machine_type: expectedPool.machineType,
      disk_size_gb: expectedPool.diskSizeGb,
      spot: expectedPool.spot,
      shielded_instance_config: { enable_secure_boot: true, enable_integrity_monitoring: true },
      workload_metadata_config: { mode: "GKE_METADATA" },
    });
    expect(pool.depends_on).toHaveLength(6);
    for (const dep of pool.depends_on) expect(dep).toMatch(/^google_project_iam_member\./);
    if (e.zones) expect(pool.node_locations).toEqual(e.zones);
  });

  test("a template without nodePool gets the documented node pool defaults", () => {
    const pool = only(stacks.get("globex-dev-cluster")!, "google_container_node_pool");
    expect(pool.autoscaling).toEqual({ min_node_count: 1, max_node_count: 3 });
    expect(pool.node_config.machine_type).toBe("e2-standard-4");
  });
});

describe("Autopilot environments", () => {
  test.each(autopilot)("%s enables Autopilot and sets none of the fields Autopilot rejects", (id) => {
    const c = cluster(id);
    expect(c.enable_autopilot).toBe(true);
    for (const path of AUTOPILOT_FORBIDDEN) expect([path, attributeAt(c, path)]).toEqual([path, undefined]);
    expect(all(stacks.get(id)!, "google_container_node_pool")).toEqual([]);
    expect(c.depends_on).toHaveLength(6);
  });

  test.each(autopilot)("%s gives auto-provisioned nodes the dedicated service account", (id) => {
    expect(cluster(id).cluster_autoscaling).toEqual({
      auto_provisioning_defaults: {
        service_account: "${google_service_account.node-identity_account_B648AB82.email}",
        oauth_scopes: ["https://www.googleapis.com/auth/cloud-platform"],
      },
    });
  });
});

describe("state backends", () => {
  test("local state is the default, one file per stack", () => {
    expect(stacks.get("globex-dev-cluster")!.terraform.backend).toEqual({ local: { path: "terraform.globex-dev-cluster.tfstate" } });
  });

  test("a GCS backend keeps each stack under its own prefix", () => {
    expect(stacks.get("acme-prod-cluster")!.terraform.backend).toEqual({
      gcs: { bucket: "acme-flowlens-tfstate", prefix: "flowlens/acme/prod/cluster" },
    });
  });
});
