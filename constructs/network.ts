// The VPC a private GKE cluster lives in: one subnet with secondary ranges for pods and services,
// Cloud NAT so private nodes can pull images and reach the internet, and the firewall rules a
// private control plane needs beyond those GKE creates itself (control plane to kubelet and 443, and
// intra-cluster traffic).
import { Construct } from "constructs";
import { ComputeNetwork } from "@cdktf/provider-google/lib/compute-network";
import { ComputeSubnetwork } from "@cdktf/provider-google/lib/compute-subnetwork";
import { ComputeRouter } from "@cdktf/provider-google/lib/compute-router";
import { ComputeRouterNat } from "@cdktf/provider-google/lib/compute-router-nat";
import { ComputeFirewall } from "@cdktf/provider-google/lib/compute-firewall";
import type { NetworkConfig } from "../environments/schema";

export interface ClusterNetworkProps {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly ranges: NetworkConfig;
  /** Node service account email: firewall rules target it instead of network tags. */
  readonly nodeServiceAccountEmail: string;
}

/** Secondary range names the cluster's ipAllocationPolicy refers to. */
export const PODS_RANGE_NAME = "pods";
export const SERVICES_RANGE_NAME = "services";

// Google's load balancer health checkers.
const HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"];
// Admission webhooks the control plane calls on the nodes: metrics-server/cert-manager style 8443 and 9443,
// Istio's sidecar injector 15017.
const WEBHOOK_PORTS = ["8443", "9443", "15017"];

export class ClusterNetwork extends Construct {
  readonly network: ComputeNetwork;
  readonly subnetwork: ComputeSubnetwork;
  readonly router: ComputeRouter;
  readonly nat: ComputeRouterNat;

  constructor(scope: Construct, id: string, props: ClusterNetworkProps) {
    super(scope, id);
    const { name, project, region, ranges } = props;

    this.network = new ComputeNetwork(this, "vpc", {
      name: `${name}-vpc`,
      project,
      autoCreateSubnetworks: false,
      routingMode: "REGIONAL",
    });

    this.subnetwork = new ComputeSubnetwork(this, "subnet", {
      name: `${name}-nodes`,
      project,
      region,
      network: this.network.id,
      ipCidrRange: ranges.nodesCidr,
      privateIpGoogleAccess: true,
      secondaryIpRange: [
        { rangeName: PODS_RANGE_NAME, ipCidrRange: ranges.podsCidr },
        { rangeName: SERVICES_RANGE_NAME, ipCidrRange: ranges.servicesCidr },
      ],
      logConfig: { aggregationInterval: "INTERVAL_5_SEC", flowSampling: 0.5, metadata: "INCLUDE_ALL_METADATA" },
    });

    this.router = new ComputeRouter(this, "router", {
      name: `${name}-router`,
      project,
      region,
      network: this.network.id,
    });

    this.nat = new ComputeRouterNat(this, "nat", {
      name: `${name}-nat`,
      project,
      region,
      router: this.router.name,
      natIpAllocateOption: "AUTO_ONLY",
      sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
      logConfig: { enable: true, filter: "ERRORS_ONLY" },
    });

    const targetServiceAccounts = [props.nodeServiceAccountEmail];
    new ComputeFirewall(this, "allow-control-plane-webhooks", {
      name: `${name}-allow-cp-webhooks`,
      project,
      network: this.network.id,
      direction: "INGRESS",
      sourceRanges: [ranges.controlPlaneCidr],
      targetServiceAccounts,
      allow: [{ protocol: "tcp", ports: WEBHOOK_PORTS }],
      description: "Private control plane to admission webhooks on the nodes",
    });
    new ComputeFirewall(this, "allow-health-checks", {
      name: `${name}-allow-health-checks`,
      project,
      network: this.network.id,
      direction: "INGRESS",
      sourceRanges: HEALTH_CHECK_RANGES,
      targetServiceAccounts,
      allow: [{ protocol: "tcp" }],
      description: "Google load balancer health checks to nodes and pods",
    });
  }
}
