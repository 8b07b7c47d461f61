import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CHART, findObject, helm, renderChart, REPO } from "./render";
import { KubeObject, validateKubeObject } from "./kube-validate";
import { footprintOfWorkload, podSpecOf } from "../../constructs/workload-footprint";
import { flowlensChartFootprints } from "../../constructs/flowlens-release";

type Json = Record<string, any>;

const PROFILES: Record<string, Record<string, string>> = {
  standard: {},
  autopilot: { profile: "autopilot" },
  "standard with cert-manager": { "tls.certManager.enabled": "true" },
  "autopilot with cert-manager": {
    profile: "autopilot",
    "tls.certManager.enabled": "true",
    "tls.certManager.issuerRef.name": "corp-ca",
  },
  "standard with IAP": { "ui.auth.mode": "iap", "ui.auth.iapAudience": "/projects/1/global/backendServices/2" },
  "standard without egress NAT reporting": { "agent.egressNat": "false" },
};

const rendered = new Map<string, KubeObject[]>();
const render = (profile: string): KubeObject[] => {
  if (!rendered.has(profile)) rendered.set(profile, renderChart(PROFILES[profile]));
  return rendered.get(profile)!;
};

const containerArgs = (obj: KubeObject, container: string): string[] =>
  (podSpecOf(obj)!.containers as Json[]).find((c) => c.name === container)!.args;

/** Flags each component documents in docs/DEVELOPING.md, read from the doc itself. */
function documentedFlags(component: string): Set<string> {
  const doc = readFileSync(join(REPO, "docs", "DEVELOPING.md"), "utf8");
  const section = doc.split("\n- ").find((s) => s.startsWith(`\`flowlens ${component}\``));
  if (!section) throw new Error(`docs/DEVELOPING.md documents no flags for flowlens ${component}`);
  return new Set([...section.matchAll(/--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
}

describe("the flowlens chart", () => {
  test.each(Object.keys(PROFILES))("helm lint --strict passes for the %s profile", (profile) => {
    const args = ["lint", "--strict", CHART];
    for (const [k, v] of Object.entries(PROFILES[profile])) args.push("--set", `${k}=${v}`);
    expect(helm(args)).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test.each(Object.keys(PROFILES))("every manifest rendered for the %s profile validates against its schema", (profile) => {
    const objects = render(profile);
    expect(objects.length).toBeGreaterThan(8);
    expect(objects.flatMap(validateKubeObject)).toEqual([]);
  });

  test("the validator rejects a malformed manifest, so a clean result means something", () => {
    const ds = structuredClone(findObject(render("standard"), "DaemonSet", "flowlens-agent"));
    (ds.spec as Json).template.spec.containers[0].securityContext.privileged = "no";
    expect(validateKubeObject(ds).join("\n")).toMatch(/privileged must be boolean/);
    const pm = structuredClone(findObject(render("standard"), "PodMonitoring", "flowlens-agent"));
    (pm.spec as Json).endpoints = [{ interval: "30s" }];
    expect(validateKubeObject(pm).join("\n")).toMatch(/must have required property 'port'/);
  });

  test("values outside the schema are refused with the offending path", () => {
    expect(() => renderChart({ profile: "gke" })).toThrow(/\/profile.*standard.*autopilot/s);
    expect(() => renderChart({ "agent.privileged": "true" })).toThrow(/additional properties 'privileged'/);
  });

  test("the agent DaemonSet adds only BPF, PERFMON and NET_ADMIN, is not privileged and mounts the host read-only", () => {
    const ds = findObject(render("standard"), "DaemonSet", "flowlens-agent");
    const pod = podSpecOf(ds)!;
    const agent = (pod.containers as Json[])[0];
    expect(agent.securityContext.privileged).toBe(false);
    expect(agent.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["BPF", "PERFMON", "NET_ADMIN"] });
    expect(pod.hostNetwork).toBe(false);
    expect(pod.hostPID).toBe(false);
    const mounts = Object.fromEntries((agent.volumeMounts as Json[]).map((m) => [m.name, m]));
    const volumes = Object.fromEntries((pod.volumes as Json[]).map((v) => [v.name, v]));
    expect(volumes.bpffs.hostPath.path).toBe("/sys/fs/bpf");
    expect(volumes["cgroup-root"].hostPath.path).toBe("/sys/fs/cgroup");
    expect(mounts["cgroup-root"].readOnly).toBe(true);
    expect(mounts.bpffs.readOnly).toBe(true);
    expect(containerArgs(ds, "agent")).toContain(`--cgroup-root=${mounts["cgroup-root"].mountPath}`);
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(agent.resources.requests).toBeDefined();
    expect(agent.resources.limits).toBeDefined();
  });

  test("the footprint the PlatformStack declares for the chart matches what the chart renders", () => {
    for (const profile of ["standard", "autopilot"] as const) {
      const actual = render(profile).flatMap((o) => footprintOfWorkload(o) ?? []);
      const askingForHost = actual.filter(
        (f) =>
          f.privileged ||
          f.hostNetwork ||
          f.writableHostPaths.length + f.readOnlyHostPaths.length + f.addedCapabilities.length > 0,
      );
      expect(askingForHost).toEqual(flowlensChartFootprints(profile, "flowlens"));
    }
  });

  test("the Autopilot profile has no DaemonSet and reads GKE's managed relay with its client Secret", () => {
    const objects = render("autopilot");
    expect(objects.filter((o) => o.kind === "DaemonSet")).toEqual([]);
    expect(objects.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")).toEqual([]);
    const relay = findObject(objects, "Deployment", "flowlens-relay");
    expect(relay.metadata.namespace).toBe("gke-managed-dpv2-observability");
    const args = containerArgs(relay, "relay");
    expect(args).toContain("--hubble-relay=hubble-relay.gke-managed-dpv2-observability.svc:443");
    expect(args).toContain("--peer-tls-server-name=relay.gke-managed-dpv2-observability.svc.cluster.local");
    const peerTls = (podSpecOf(relay)!.volumes as Json[]).find((v) => v.name === "peer-tls");
    expect(peerTls?.secret.secretName).toBe("hubble-relay-client-certs");
    const ui = findObject(objects, "Deployment", "flowlens-ui");
    expect(containerArgs(ui, "ui")).toContain("--relay=flowlens-relay.gke-managed-dpv2-observability.svc:4245");
  });

  test("agent.egressNat: false starts the agent with --no-egress-nat, and only then", () => {
    const agentArgs = (profile: string) => containerArgs(findObject(render(profile), "DaemonSet", "flowlens-agent"), "agent");
    expect(agentArgs("standard without egress NAT reporting")).toContain("--no-egress-nat");
    expect(agentArgs("standard")).not.toContain("--no-egress-nat");
    // In its own network namespace the agent reads NAT bindings from the tracepoint, which sees the host's.
    expect(agentArgs("standard")).toContain("--egress-nat-hook=tracepoint");
    expect(agentArgs("standard without egress NAT reporting")).not.toContain("--egress-nat-hook=tracepoint");
  });

  test("every flag the chart passes is one the component documents", () => {
    for (const profile of ["standard", "autopilot", "standard with IAP", "standard without egress NAT reporting"]) {
      for (const [kind, name, container] of [
        ["DaemonSet", "flowlens-agent", "agent"],
        ["Deployment", "flowlens-relay", "relay"],
        ["Deployment", "flowlens-ui", "ui"],
      ]) {
        const obj = render(profile).find((o) => o.kind === kind && o.metadata.name === name);
        if (!obj) continue;
        const [subcommand, ...flags] = containerArgs(obj, container);
        expect(subcommand).toBe(container);
        const documented = documentedFlags(container);
        const undocumented = flags.map((f) => f.split("=")[0]).filter((f) => !documented.has(f));
        expect({ profile, container, undocumented }).toEqual({ profile, container, undocumented: [] });
      }
    }
  });

  test("RBAC grants the agent read access to pods and services and the relay only agent pod discovery", () => {
    const objects = render("standard");
    const agentRole = objects.find((o) => o.kind === "ClusterRole")!;
    expect(agentRole.rules).toEqual([{ apiGroups: [""], resources: ["pods", "services"], verbs: ["get", "list", "watch"] }]);
    const relayRole = findObject(objects, "Role", "flowlens-relay");
    expect(relayRole.metadata.namespace).toBe("flowlens");
    expect(relayRole.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }]);
    expect(objects.filter((o) => o.kind === "ClusterRole")).toHaveLength(1);
    const ui = findObject(objects, "Deployment", "flowlens-ui");
    expect(podSpecOf(ui)!.automountServiceAccountToken).toBe(false);
  });

  test("generated certificates chain to one CA and carry the names each client verifies", () => {
    const objects = render("standard");
    const secret = (name: string, key: string) =>
      Buffer.from((findObject(objects, "Secret", name).data as Json)[key], "base64").toString();
    const ca = new X509Certificate(secret("flowlens-ca", "ca.crt"));
    const leaf = (name: string) => new X509Certificate(secret(name, "tls.crt"));
    for (const name of ["flowlens-agent-tls", "flowlens-relay-tls", "flowlens-relay-client-tls", "flowlens-ui-client-tls"]) {
      expect(leaf(name).verify(ca.publicKey)).toBe(true);
      expect(secret(name, "ca.crt")).toBe(ca.toString());
    }
    const relayArgs = containerArgs(findObject(objects, "Deployment", "flowlens-relay"), "relay");
    const agentName = relayArgs.find((a) => a.startsWith("--peer-tls-server-name="))!.split("=")[1];
    expect(leaf("flowlens-agent-tls").checkHost(agentName)).toBe(agentName);
    const uiArgs = containerArgs(findObject(objects, "Deployment", "flowlens-ui"), "ui");
    const relayName = uiArgs.find((a) => a.startsWith("--relay-tls-server-name="))!.split("=")[1];
    expect(leaf("flowlens-relay-tls").checkHost(relayName)).toBe(relayName);
    expect(leaf("flowlens-agent-tls").checkHost(relayName)).toBeUndefined();
  });

  test("cert-manager mode issues the same Secrets through Certificates instead of generating them", () => {
    const objects = render("standard with cert-manager");
    const secretNames = objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name);
    expect(secretNames).toEqual(["flowlens-ui-auth"]);
    const issued = objects.filter((o) => o.kind === "Certificate").map((o) => (o.spec as Json).secretName).sort();
    expect(issued).toEqual(["flowlens-agent-tls", "flowlens-ca", "flowlens-relay-client-tls", "flowlens-relay-tls", "flowlens-ui-client-tls"]);
    expect(() => renderChart({ profile: "autopilot", "tls.certManager.enabled": "true" })).toThrow(/issuerRef\.name is empty/);
  });

  test("NetworkPolicies select every pod the chart runs and PodMonitorings scrape the metrics ports", () => {
    for (const profile of ["standard", "autopilot"]) {
      const objects = render(profile);
      const policies = objects.filter((o) => o.kind === "NetworkPolicy");
      for (const workload of objects.filter((o) => podSpecOf(o))) {
        const labels = ((workload.spec as Json).template.metadata.labels ?? {}) as Record<string, string>;
        const selected = policies.some(
          (p) =>
            p.metadata.namespace === workload.metadata.namespace &&
            Object.entries((p.spec as Json).podSelector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v),
        );
        expect({ profile, workload: workload.metadata.name, selected }).toEqual({ profile, workload: workload.metadata.name, selected: true });
      }
      const monitored = objects.filter((o) => o.kind === "PodMonitoring").map((o) => o.metadata.name).sort();
      expect(monitored).toEqual(profile === "standard" ? ["flowlens-agent", "flowlens-relay"] : ["flowlens-relay"]);
    }
  });
});
