// Kubernetes and Helm providers for one cluster, authenticated with the deploying identity's
// short-lived access token: nothing is written to a kubeconfig file.
import { Construct } from "constructs";
import { Fn } from "cdktf";
import { DataGoogleClientConfig } from "@cdktf/provider-google/lib/data-google-client-config";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider";

export interface ClusterConnectionProps {
  /** Control-plane address without scheme (the cluster's `endpoint`). */
  readonly endpoint: string;
  /** Base64-encoded PEM of the cluster CA (`master_auth.cluster_ca_certificate`). */
  readonly caCertificate: string;
}

export class ClusterConnection extends Construct {
  readonly kubernetes: KubernetesProvider;
  readonly helm: HelmProvider;

  constructor(scope: Construct, id: string, props: ClusterConnectionProps) {
    super(scope, id);
    const client = new DataGoogleClientConfig(this, "client");
    const host = `https://${props.endpoint}`;
    const clusterCaCertificate = Fn.base64decode(props.caCertificate);
    this.kubernetes = new KubernetesProvider(this, "kubernetes", { host, token: client.accessToken, clusterCaCertificate });
    this.helm = new HelmProvider(this, "helm", {
      kubernetes: { host, token: client.accessToken, clusterCaCertificate },
    });
  }
}
