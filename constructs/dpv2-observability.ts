// Dataplane V2 observability settings of a cluster: DPv2 flow metrics and GKE's managed hubble-relay
// (which Flowlens reads from on Autopilot), Google Managed Prometheus to scrape them, and the logging
// components that carry network policy logs.
import type {
  ContainerClusterLoggingConfig,
  ContainerClusterMonitoringConfig,
} from "@cdktf/provider-google/lib/container-cluster";

export interface Dpv2ObservabilityOptions {
  /** Run GKE's managed hubble-relay. @default true */
  readonly relay?: boolean;
  /** Export DPv2 flow metrics (pod_flow_ingress/egress_flows_count). @default true */
  readonly metrics?: boolean;
}

export function dpv2MonitoringConfig(options: Dpv2ObservabilityOptions = {}): ContainerClusterMonitoringConfig {
  return {
    enableComponents: ["SYSTEM_COMPONENTS"],
    managedPrometheus: { enabled: true },
    advancedDatapathObservabilityConfig: {
      enableMetrics: options.metrics ?? true,
      enableRelay: options.relay ?? true,
    },
  };
}

export function clusterLoggingConfig(): ContainerClusterLoggingConfig {
  return { enableComponents: ["SYSTEM_COMPONENTS", "WORKLOADS"] };
}
