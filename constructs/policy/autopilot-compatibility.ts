// Autopilot rejects node-level settings at plan time; catch them at synth so a change fails before any plan.
import { Annotations, IAspect } from "cdktf";
import type { IConstruct } from "constructs";
import { attributeAt, stackResources } from "./_resources";

/** Attribute paths the google provider rejects on an Autopilot cluster (provider 6.x). */
export const AUTOPILOT_FORBIDDEN = [
  "datapath_provider",
  "network_policy",
  "node_pool",
  "remove_default_node_pool",
  "enable_intranode_visibility",
  "enable_shielded_nodes",
  "default_max_pods_per_node",
  "addons_config.network_policy_config",
  "addons_config.dns_cache_config",
  "cluster_autoscaling.enabled",
  "cluster_autoscaling.resource_limits",
  "binary_authorization.enabled",
] as const;

export class AutopilotCompatibility implements IAspect {
  visit(node: IConstruct): void {
    const resources = stackResources(node);
    const autopilot = resources.filter(
      (r) => r.type === "google_container_cluster" && r.attributes.enable_autopilot === true,
    );
    for (const cluster of autopilot) {
      for (const path of AUTOPILOT_FORBIDDEN) {
        if (attributeAt(cluster.attributes, path) !== undefined) {
          Annotations.of(cluster.node).addError(
            `Autopilot cluster sets ${path}, which Autopilot rejects; remove it or use mode: standard`,
          );
        }
      }
    }
    if (autopilot.length === 0) return;
    for (const pool of resources.filter((r) => r.type === "google_container_node_pool")) {
      Annotations.of(pool.node).addError(
        "a node pool next to an Autopilot cluster is rejected by GKE; remove it or use mode: standard",
      );
    }
  }
}
