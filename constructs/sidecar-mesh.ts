// The Istio sidecar baseline: istio base (CRDs) and istiod, so demo-sidecar can be injected and
// compared with the sidecar-free demo-ebpf on the same cluster.
import { Construct } from "constructs";
import { Release } from "@cdktf/provider-helm/lib/release";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";
import { stringify } from "yaml";
import { namespace } from "./kubernetes-manifest";
import type { IDeclaresPodFootprints, PodFootprint } from "./workload-footprint";

export const ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts";

export interface SidecarMeshProps {
  /** Istio release, e.g. 1.27.1. */
  readonly istioVersion: string;
  /** Annotations for istio-system (deny logging delegation). @default {} */
  readonly namespaceAnnotations?: Record<string, string>;
}

export class SidecarMesh extends Construct implements IDeclaresPodFootprints {
  readonly namespace: Manifest;
  readonly base: Release;
  readonly istiod: Release;

  constructor(scope: Construct, id: string, props: SidecarMeshProps) {
    super(scope, id);
    if (!/^\d+\.\d+\.\d+$/.test(props.istioVersion)) {
      throw new Error(`SidecarMesh ${this.node.path}: istioVersion "${props.istioVersion}" is not a release like 1.27.1`);
    }
    this.namespace = namespace(this, "namespace", "istio-system", { annotations: props.namespaceAnnotations });
    this.base = new Release(this, "base", {
      name: "istio-base",
      repository: ISTIO_CHARTS,
      chart: "base",
      version: props.istioVersion,
      namespace: "istio-system",
      values: [stringify({ defaultRevision: "default" })],
      dependsOn: [this.namespace],
    });
    this.istiod = new Release(this, "istiod", {
      name: "istiod",
      repository: ISTIO_CHARTS,
      chart: "istiod",
      version: props.istioVersion,
      namespace: "istio-system",
      wait: true,
      values: [stringify({ pilot: { resources: { requests: { cpu: "250m", memory: "512Mi" } } } })],
      dependsOn: [this.base],
    });
  }

  podFootprints(): PodFootprint[] {
    return [
      {
        workload: "Deployment/istio-system/istiod",
        privileged: false,
        hostNetwork: false,
        hostPID: false,
        hostIPC: false,
        writableHostPaths: [],
        readOnlyHostPaths: [],
        addedCapabilities: [],
      },
    ];
  }
}
