// A private GKE cluster with Dataplane V2, in Standard mode (with a separately managed, autoscaled node
// pool) or Autopilot mode (where Google manages nodes and rejects node-level fields).
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { ContainerCluster, ContainerClusterConfig } from "@cdktf/provider-google/lib/container-cluster";
import { ContainerNodePool } from "@cdktf/provider-google/lib/container-node-pool";
import type { ControlPlaneConfig, Mode, NetworkConfig, NodePoolConfig } from "../environments/schema";
import { clusterLoggingConfig, dpv2MonitoringConfig } from "./dpv2-observability";
import { PODS_RANGE_NAME, SERVICES_RANGE_NAME } from "./network";

export interface GkeClusterProps {
  readonly name: string;
  readonly project: string;
  readonly region: string;
  readonly mode: Mode;
  readonly networkId: string;
  readonly subnetworkId: string;
  readonly ranges: NetworkConfig;
  readonly controlPlane: ControlPlaneConfig;
  readonly releaseChannel: string;
  readonly nodeServiceAccountEmail: string;
  readonly labels: Record<string, string>;
  readonly deletionProtection: boolean;
  /** Standard only. @default - the node pool defaults of the environment schema */
  readonly nodePool?: NodePoolConfig;
  /** Standard only: zones for the nodes. @default - GKE's choice of zones in the region */
  readonly zones?: string[];
  /** Resources nodes need first, e.g. the node service account's role bindings. @default - none */
  readonly dependsOn?: ITerraformDependable[];
}

const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

export class GkeCluster extends Construct {
  readonly cluster: ContainerCluster;
  /** Only on Standard. */
  readonly nodePool?: ContainerNodePool;

  constructor(scope: Construct, id: string, props: GkeClusterProps) {
    super(scope, id);
    if (props.mode === "standard" && !props.nodePool) {
      throw new Error(`GkeCluster ${props.name}: a Standard cluster needs nodePool settings`);
    }
    if (props.mode === "autopilot" && (props.nodePool || props.zones)) {
      throw new Error(`GkeCluster ${props.name}: nodePool and zones do not apply to Autopilot; leave them out`);
    }

    const shared: ContainerClusterConfig = {
      name: props.name,
      project: props.project,
      location: props.region,
      network: props.networkId,
      subnetwork: props.subnetworkId,
      ipAllocationPolicy: {
        clusterSecondaryRangeName: PODS_RANGE_NAME,
        servicesSecondaryRangeName: SERVICES_RANGE_NAME,
      },
      privateClusterConfig: {
        enablePrivateNodes: true,
        enablePrivateEndpoint: props.controlPlane.privateEndpoint,
        masterIpv4CidrBlock: props.ranges.controlPlaneCidr,
        masterGlobalAccessConfig: { enabled: true },
      },
      masterAuthorizedNetworksConfig: authorizedNetworks(props.controlPlane),
      releaseChannel: { channel: props.releaseChannel },
      workloadIdentityConfig: { workloadPool: `${props.project}.svc.id.goog` },
      monitoringConfig: dpv2MonitoringConfig(),
      loggingConfig: clusterLoggingConfig(),
      deletionProtection: props.deletionProtection,
      resourceLabels: props.labels,
      dependsOn: props.dependsOn,
    };

    if (props.mode === "autopilot") {
      // Autopilot always runs Dataplane V2: datapathProvider stays unset, and node settings go through
      // auto-provisioning defaults, the one place Autopilot accepts a node service account.
      this.cluster = new ContainerCluster(this, "cluster", {
        ...shared,
        enableAutopilot: true,
        clusterAutoscaling: {
          autoProvisioningDefaults: {
            serviceAccount: props.nodeServiceAccountEmail,
            oauthScopes: [CLOUD_PLATFORM_SCOPE],
          },
        },
      });
      return;
    }

    const pool = props.nodePool!;
    const nodeConfig = {
      serviceAccount: props.nodeServiceAccountEmail,
      oauthScopes: [CLOUD_PLATFORM_SCOPE],
      shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
      workloadMetadataConfig: { mode: "GKE_METADATA" },
    };
    // The default pool is created and removed at once (GKE needs one to exist); giving it the dedicated
    // service account keeps even that short-lived pool off the Compute Engine default account.
    this.cluster = new ContainerCluster(this, "cluster", {
      ...shared,
      nodeLocations: props.zones,
      datapathProvider: "ADVANCED_DATAPATH",
      enableShieldedNodes: true,
      removeDefaultNodePool: true,
      initialNodeCount: 1,
      nodeConfig,
    });
    this.nodePool = new ContainerNodePool(this, "node-pool", {
      name: `${props.name}-pool`,
      project: props.project,
      location: props.region,
      cluster: this.cluster.name,
      nodeLocations: props.zones,
      autoscaling: { minNodeCount: pool.minNodes, maxNodeCount: pool.maxNodes },
      management: { autoRepair: true, autoUpgrade: true },
      upgradeSettings: { maxSurge: 1, maxUnavailable: 0 },
      dependsOn: props.dependsOn,
      nodeConfig: {
        ...nodeConfig,
        machineType: pool.machineType,
        diskSizeGb: pool.diskSizeGb,
        spot: pool.spot,
        resourceLabels: props.labels,
      },
    });
  }
}

function authorizedNetworks(cp: ControlPlaneConfig): ContainerClusterConfig["masterAuthorizedNetworksConfig"] {
  // An empty block still restricts a private endpoint to the VPC; a public endpoint without networks stays
  // open, which the policy checks flag.
  if (cp.authorizedNetworks.length === 0 && !cp.privateEndpoint) return undefined;
  return { cidrBlocks: cp.authorizedNetworks.map((n) => ({ cidrBlock: n.cidr, displayName: n.name })) };
}
