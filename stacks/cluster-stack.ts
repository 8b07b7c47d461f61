// One environment's cluster: network, node identity and the GKE cluster, with the policy checks that
// guard them, and the outputs the platform stack connects to the cluster with.
import { Construct } from "constructs";
import { Aspects, TerraformOutput, TerraformStack } from "cdktf";
import { GoogleProvider } from "@cdktf/provider-google/lib/provider";
import { DEFAULT_NODE_POOL, Environment, environmentName, isProduction } from "../environments/schema";
import { ClusterNetwork } from "../constructs/network";
import { NodeIdentity } from "../constructs/node-identity";
import { GkeCluster } from "../constructs/gke-cluster";
import { environmentLabels } from "../constructs/labels";
import { AutopilotCompatibility } from "../constructs/policy/autopilot-compatibility";
import { RequiredLabels } from "../constructs/policy/required-labels";
import { ProductionSafety } from "../constructs/policy/production-safety";
import { configureBackend } from "./backend";

export interface ClusterStackProps {
  readonly environment: Environment;
  /** Template the environment came from, named in policy messages. @default - `environments/<team>-<env>.yaml` */
  readonly source?: string;
}

export class ClusterStack extends TerraformStack {
  readonly environment: Environment;
  readonly gke: GkeCluster;
  readonly network: ClusterNetwork;
  readonly nodeIdentity: NodeIdentity;
  /** IP address of the control plane (no scheme). */
  readonly endpoint: TerraformOutput;
  /** Base64 PEM of the cluster CA. */
  readonly caCertificate: TerraformOutput;
  readonly clusterName: TerraformOutput;
  readonly location: TerraformOutput;
  readonly project: TerraformOutput;

  constructor(scope: Construct, id: string, props: ClusterStackProps) {
    super(scope, id);
    const e = props.environment;
    this.environment = e;
    const name = environmentName(e);
    const labels = environmentLabels(e);
    const source = props.source ?? `environments/${name}.yaml`;

    configureBackend(this, e, "cluster");
    const google = new GoogleProvider(this, "google", { project: e.project, region: e.region });
    // cdktf snake-cases map keys in provider blocks (cost-center would become cost_center), so the
    // default labels go in verbatim through an override.
    google.addOverride("default_labels", labels);

    this.nodeIdentity = new NodeIdentity(this, "node-identity", {
      project: e.project,
      accountId: `${name}-node`,
      displayName: `GKE nodes of ${name}`,
    });
    this.network = new ClusterNetwork(this, "network", {
      name,
      project: e.project,
      region: e.region,
      ranges: e.network,
      nodeServiceAccountEmail: this.nodeIdentity.email,
    });
    this.gke = new GkeCluster(this, "gke", {
      name,
      project: e.project,
      region: e.region,
      mode: e.mode,
      networkId: this.network.network.id,
      subnetworkId: this.network.subnetwork.id,
      ranges: e.network,
      controlPlane: e.controlPlane,
      releaseChannel: e.releaseChannel,
      nodeServiceAccountEmail: this.nodeIdentity.email,
      labels,
      deletionProtection: e.deletionProtection,
      nodePool: e.mode === "standard" ? (e.nodePool ?? DEFAULT_NODE_POOL) : undefined,
      zones: e.zones,
      // Nodes must not boot before their service account may write logs and metrics and pull images.
      dependsOn: this.nodeIdentity.roleBindings,
    });

    const cluster = this.gke.cluster;
    this.endpoint = new TerraformOutput(this, "endpoint", { value: cluster.endpoint, sensitive: true });
    this.caCertificate = new TerraformOutput(this, "ca-certificate", {
      value: cluster.masterAuth.clusterCaCertificate,
      sensitive: true,
    });
    this.clusterName = new TerraformOutput(this, "cluster-name", { value: cluster.name });
    this.location = new TerraformOutput(this, "location", { value: cluster.location });
    this.project = new TerraformOutput(this, "project", { value: cluster.project });

    Aspects.of(this).add(new AutopilotCompatibility());
    Aspects.of(this).add(new RequiredLabels({ team: e.team, env: e.env }));
    Aspects.of(this).add(new ProductionSafety({ production: isProduction(e), source }));
  }
}
