// On Autopilot, fail synth for any pod that admission would reject (privileged, host namespaces,
// writable hostPath) instead of finding out when the apply hangs on a workload that never schedules.
import { Annotations, IAspect, TerraformStack } from "cdktf";
import type { IConstruct } from "constructs";
import { synthesizedResource } from "./_resources";
import { autopilotRejections, declaresPodFootprints, footprintOfWorkload, PodFootprint } from "../workload-footprint";

export interface AutopilotWorkloadsProps {
  /** Whether the stack's cluster runs Autopilot; on Standard the aspect checks nothing. */
  readonly autopilot: boolean;
}

export class AutopilotWorkloads implements IAspect {
  constructor(private readonly props: AutopilotWorkloadsProps) {}

  visit(node: IConstruct): void {
    if (!this.props.autopilot || !TerraformStack.isStack(node)) return;
    for (const construct of node.node.findAll()) {
      for (const footprint of footprintsOf(construct)) {
        for (const reason of autopilotRejections(footprint)) {
          Annotations.of(construct).addError(
            `${footprint.workload} ${reason}, which Autopilot admission rejects; ` +
              "remove it from this environment or use mode: standard",
          );
        }
      }
    }
  }
}

function footprintsOf(construct: IConstruct): PodFootprint[] {
  if (declaresPodFootprints(construct)) return construct.podFootprints();
  const resource = synthesizedResource(construct);
  if (resource?.type !== "kubernetes_manifest") return [];
  const footprint = footprintOfWorkload(resource.attributes.manifest as Record<string, unknown>);
  return footprint ? [footprint] : [];
}
