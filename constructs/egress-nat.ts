// Destinations pods reach with their own address (no SNAT to the node IP). Autopilot takes an
// EgressNATPolicy; Standard takes the ip-masq-agent ConfigMap. Both mean the same thing.
import { Construct } from "constructs";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";
import type { Mode } from "../environments/schema";
import { manifest } from "./kubernetes-manifest";

export interface EgressNatProps {
  readonly mode: Mode;
  /** CIDRs reached without SNAT. Must not be empty: an empty list would change nothing. */
  readonly destinations: string[];
  /** The cluster's own pod range; ip-masq-agent needs it listed, EgressNATPolicy excludes it by itself. */
  readonly podsCidr: string;
}

export class EgressNat extends Construct {
  readonly resource: Manifest;

  constructor(scope: Construct, id: string, props: EgressNatProps) {
    super(scope, id);
    if (props.destinations.length === 0) {
      throw new Error(`EgressNat ${this.node.path}: destinations is empty; leave egressNat out of the template instead`);
    }
    if (props.mode === "autopilot") {
      // GKE owns the `default` policy; a second named one adds our destinations without replacing Google's.
      this.resource = manifest(this, "policy", {
        apiVersion: "networking.gke.io/v1",
        kind: "EgressNATPolicy",
        metadata: { name: "flowlens-no-snat" },
        spec: { action: "NoSNAT", destinations: props.destinations.map((cidr) => ({ cidr })) },
      });
    } else {
      // Once this ConfigMap exists, ip-masq-agent masquerades everything not listed, so the pod range
      // and link-local stay listed as GKE's defaults do.
      const nonMasqueradeCIDRs = [...new Set([props.podsCidr, "169.254.0.0/16", ...props.destinations])];
      this.resource = manifest(this, "ip-masq-agent", {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "ip-masq-agent", namespace: "kube-system" },
        data: {
          config: JSON.stringify({ nonMasqueradeCIDRs, masqLinkLocal: false, resyncInterval: "60s" }),
        },
      });
    }
  }
}
