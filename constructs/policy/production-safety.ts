// Production clusters must survive a stray `destroy` and must not expose the Kubernetes API to the internet.
import { Annotations, IAspect } from "cdktf";
import type { IConstruct } from "constructs";
import { attributeAt, stackResources } from "./_resources";

export interface ProductionSafetyProps {
  readonly production: boolean;
  /** Template file, so messages say where to fix. */
  readonly source: string;
}

export class ProductionSafety implements IAspect {
  constructor(private readonly props: ProductionSafetyProps) {}

  visit(node: IConstruct): void {
    for (const r of stackResources(node)) {
      if (r.type !== "google_container_cluster") continue;
      if (this.props.production && r.attributes.deletion_protection === false) {
        Annotations.of(r.node).addError(
          `production cluster without deletion protection; set deletionProtection: true in ${this.props.source}`,
        );
      }
      const privateEndpoint = attributeAt(r.attributes, "private_cluster_config.enable_private_endpoint") === true;
      const blocks = attributeAt(r.attributes, "master_authorized_networks_config.cidr_blocks");
      const authorized = Array.isArray(blocks) && blocks.length > 0;
      if (!privateEndpoint && !authorized) {
        const message =
          "public control-plane endpoint without authorized networks; add controlPlane.authorizedNetworks " +
          `or set controlPlane.privateEndpoint: true in ${this.props.source}`;
        if (this.props.production) Annotations.of(r.node).addError(message);
        else Annotations.of(r.node).addWarning(message);
      }
    }
  }
}
