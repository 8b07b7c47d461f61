// A one-shot Job that drives both storefronts (sidecar-free and Istio-injected) at fixed request rates,
// alternating targets at every rate so drift in the cluster hits both alike, then publishes
// p50/p90/p99 and the achieved rate in a ConfigMap (and its log).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";
import { manifest, namespace } from "../kubernetes-manifest";

export const FORTIO_IMAGE = "fortio/fortio:1.63.2";
export const SUMMARY_IMAGE = "node:20-slim";
export const RESULTS_CONFIGMAP = "fortio-results";

export interface BenchmarkTarget {
  /** Short name used in result files and output ("ebpf", "sidecar"). */
  readonly name: string;
  readonly url: string;
  readonly namespace: string;
}

export interface FortioBenchmarkProps {
  readonly namespace: string;
  readonly targets: BenchmarkTarget[];
  /** Fixed request rates, requests per second. @default [50, 200, 500] */
  readonly rates?: number[];
  /** Duration of each run. @default "60s" */
  readonly duration?: string;
  /** Connections; enough that requests rarely queue behind a slow one. @default 32 */
  readonly connections?: number;
  /** Changing it starts a new run (a Job's pod template cannot change in place). @default "1" */
  readonly run?: string;
  readonly namespaceAnnotations?: Record<string, string>;
  readonly networkPolicyAnnotations?: Record<string, string>;
  readonly dependsOn?: ITerraformDependable[];
}

const RESTRICTED = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: 10001,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

export class FortioBenchmark extends Construct {
  readonly job: Manifest;
  readonly jobName: string;

  constructor(scope: Construct, id: string, props: FortioBenchmarkProps) {
    super(scope, id);
    const rates = props.rates ?? [50, 200, 500];
    const duration = props.duration ?? "60s";
    const connections = props.connections ?? 32;
    const run = props.run ?? "1";
    const ns = props.namespace;
    if (props.targets.length === 0) throw new Error(`FortioBenchmark ${this.node.path}: targets is empty`);
    const bad = rates.find((r) => !Number.isInteger(r) || r <= 0);
    if (bad !== undefined) throw new Error(`FortioBenchmark ${this.node.path}: rate ${bad} is not a positive integer`);
    if (!/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/.test(run)) {
      throw new Error(`FortioBenchmark ${this.node.path}: run "${run}" must be a short DNS label like "2"`);
    }
    this.jobName = `fortio-compare-${run}`;

    const nsResource = namespace(this, "namespace", ns, { annotations: props.namespaceAnnotations });
    const deps = [nsResource];
    const sa = manifest(this, "service-account", {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "fortio", namespace: ns },
    }, deps);
    // Publishing needs create (which cannot be limited by name) and update of the one results ConfigMap.
    const role = manifest(this, "role", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "fortio-results-writer", namespace: ns },
      rules: [
        { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
        { apiGroups: [""], resources: ["configmaps"], resourceNames: [RESULTS_CONFIGMAP], verbs: ["get", "update"] },
      ],
    }, deps);
    const binding = manifest(this, "role-binding", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "fortio-results-writer", namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "fortio-results-writer" },
      subjects: [{ kind: "ServiceAccount", name: "fortio", namespace: ns }],
    }, deps);
    const script = manifest(this, "summary-script", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "fortio-summary-script", namespace: ns },
      data: { "summarize.js": readFileSync(join(__dirname, "summarize.js"), "utf8") },
    }, deps);
    const policy = manifest(this, "network-policy", {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "fortio-egress", namespace: ns, annotations: props.networkPolicyAnnotations ?? {} },
      spec: {
        podSelector: { matchLabels: { app: "fortio" } },
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [
          ...props.targets.map((t) => ({
            to: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": t.namespace } },
                podSelector: { matchLabels: { app: "frontend" } },
              },
            ],
            ports: [{ port: 8080, protocol: "TCP" }],
          })),
          {
            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }],
            ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }],
          },
          // The Kubernetes API (results ConfigMap); GKE's control plane sits outside the pod network.
          { ports: [{ port: 443, protocol: "TCP" }] },
        ],
      },
    }, deps);

    const loads = rates.flatMap((qps) =>
      props.targets.map((t) => ({
        name: `load-${t.name}-${qps}`,
        image: FORTIO_IMAGE,
        args: [
          "load",
          "-qps", String(qps),
          "-t", duration,
          "-c", String(connections),
          "-uniform",
          "-p", "50,90,99",
          "-allow-initial-errors",
          "-labels", `${t.name} ${qps}qps`,
          "-json", `/results/${t.name}-${qps}qps.json`,
          t.url,
        ],
        resources: { requests: { cpu: "500m", memory: "128Mi" }, limits: { cpu: "1", memory: "256Mi" } },
        securityContext: RESTRICTED,
        volumeMounts: [{ name: "results", mountPath: "/results" }],
      })),
    );

    this.job = manifest(this, "job", {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: this.jobName, namespace: ns, labels: { app: "fortio" } },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { app: "fortio" } },
          spec: {
            serviceAccountName: "fortio",
            restartPolicy: "Never",
            securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
            // Init containers run one after another: each rate and target in turn, never overlapping.
            initContainers: loads,
            containers: [
              {
                name: "publish",
                image: SUMMARY_IMAGE,
                command: ["node", "/scripts/summarize.js", "/results"],
                env: [{ name: "FORTIO_RESULTS_CONFIGMAP", value: `${ns}/${RESULTS_CONFIGMAP}` }],
                resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
                securityContext: RESTRICTED,
                volumeMounts: [
                  { name: "results", mountPath: "/results", readOnly: true },
                  { name: "scripts", mountPath: "/scripts", readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: "results", emptyDir: { sizeLimit: "16Mi" } },
              { name: "scripts", configMap: { name: "fortio-summary-script" } },
            ],
          },
        },
      },
    }, [sa, role, binding, script, policy, ...(props.dependsOn ?? [])]);
  }
}
