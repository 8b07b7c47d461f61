// microservices-demo (Online Boutique) from its Helm chart, with the chart's per-service NetworkPolicies
// plus one that lets the benchmark namespace reach the frontend.
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { Release } from "@cdktf/provider-helm/lib/release";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";
import { stringify } from "yaml";
import { manifest, namespace } from "./kubernetes-manifest";
import type { IDeclaresPodFootprints, PodFootprint } from "./workload-footprint";

export const ONLINE_BOUTIQUE_CHART = "oci://us-docker.pkg.dev/online-boutique-ci/charts/onlineboutique";
export const ONLINE_BOUTIQUE_VERSION = "0.10.2";

/** Deployments the chart creates (loadgenerator is off: the benchmark Job drives the load). */
export const ONLINE_BOUTIQUE_SERVICES = [
  "adservice",
  "cartservice",
  "checkoutservice",
  "currencyservice",
  "emailservice",
  "frontend",
  "paymentservice",
  "productcatalogservice",
  "recommendationservice",
  "redis-cart",
  "shippingservice",
] as const;

export const FRONTEND_TARGET_PORT = 8080;

export interface MicroservicesDemoProps {
  readonly namespace: string;
  /** Label the namespace for Istio sidecar injection. @default false */
  readonly istioInjection?: boolean;
  /** Namespace whose pods may call the frontend (the benchmark). */
  readonly clientNamespace: string;
  /** Annotations for the NetworkPolicies this construct writes (policy logging delegation). @default {} */
  readonly networkPolicyAnnotations?: Record<string, string>;
  /** Annotations for the namespace (deny logging delegation). @default {} */
  readonly namespaceAnnotations?: Record<string, string>;
  /** @default ONLINE_BOUTIQUE_VERSION */
  readonly chartVersion?: string;
  readonly dependsOn?: ITerraformDependable[];
}

export class MicroservicesDemo extends Construct implements IDeclaresPodFootprints {
  readonly namespaceName: string;
  readonly namespace: Manifest;
  readonly release: Release;
  readonly frontendPolicy: Manifest;
  /** In-cluster URL of the storefront. */
  readonly frontendUrl: string;
  private readonly injected: boolean;

  constructor(scope: Construct, id: string, props: MicroservicesDemoProps) {
    super(scope, id);
    this.namespaceName = props.namespace;
    this.injected = props.istioInjection ?? false;
    this.frontendUrl = `http://frontend.${props.namespace}.svc.cluster.local/`;
    this.namespace = namespace(this, "namespace", props.namespace, {
      labels: this.injected ? { "istio-injection": "enabled" } : undefined,
      annotations: props.namespaceAnnotations,
    });
    this.release = new Release(this, "release", {
      name: "onlineboutique",
      chart: ONLINE_BOUTIQUE_CHART,
      version: props.chartVersion ?? ONLINE_BOUTIQUE_VERSION,
      namespace: props.namespace,
      wait: true,
      timeout: 900,
      values: [
        stringify({
          networkPolicies: { create: true },
          frontend: { externalService: false },
          loadGenerator: { create: false },
          seccompProfile: { enable: true, type: "RuntimeDefault" },
        }),
      ],
      dependsOn: [this.namespace, ...(props.dependsOn ?? [])],
    });
    this.frontendPolicy = manifest(
      this,
      "allow-benchmark-to-frontend",
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: {
          name: "allow-benchmark-to-frontend",
          namespace: props.namespace,
          annotations: props.networkPolicyAnnotations ?? {},
        },
        spec: {
          podSelector: { matchLabels: { app: "frontend" } },
          policyTypes: ["Ingress"],
          ingress: [
            {
              from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": props.clientNamespace } } }],
              ports: [{ port: FRONTEND_TARGET_PORT, protocol: "TCP" }],
            },
          ],
        },
      },
      [this.namespace],
    );
  }

  podFootprints(): PodFootprint[] {
    // Injected pods carry istio-init, which programs iptables redirection with NET_ADMIN and NET_RAW.
    const added = this.injected ? ["NET_ADMIN", "NET_RAW"] : [];
    return ONLINE_BOUTIQUE_SERVICES.map((service) => ({
      workload: `Deployment/${this.namespaceName}/${service}`,
      privileged: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      writableHostPaths: [],
      readOnlyHostPaths: [],
      addedCapabilities: added,
    }));
  }
}
