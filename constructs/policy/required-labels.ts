// Every resource that takes labels carries the team and env labels, so cost and inventory split per team.
import { Annotations, IAspect } from "cdktf";
import type { IConstruct } from "constructs";
import { attributeAt, stackResources } from "./_resources";

/** Where each labelled resource type this project creates keeps its labels. */
export const LABEL_ATTRIBUTE: Record<string, string> = {
  google_container_cluster: "resource_labels",
  google_container_node_pool: "node_config.resource_labels",
  google_compute_address: "labels",
  google_storage_bucket: "labels",
};

export class RequiredLabels implements IAspect {
  constructor(private readonly required: Record<string, string>) {}

  visit(node: IConstruct): void {
    for (const r of stackResources(node)) {
      const path = LABEL_ATTRIBUTE[r.type];
      if (!path) continue;
      const labels = (attributeAt(r.attributes, path) ?? {}) as Record<string, unknown>;
      const missing = Object.entries(this.required)
        .filter(([key, value]) => labels[key] !== value)
        .map(([key, value]) => `${key}=${value}`);
      if (missing.length > 0) {
        Annotations.of(r.node).addError(
          `${r.type} is missing the labels ${missing.join(", ")} in ${path}; add the environment labels`,
        );
      }
    }
  }
}
