// A dedicated service account for the nodes with only what a node needs (write logs and metrics, read
// images), so workloads never inherit the broad Compute Engine default account's Editor role.
import { Construct } from "constructs";
import { ServiceAccount } from "@cdktf/provider-google/lib/service-account";
import { ProjectIamMember } from "@cdktf/provider-google/lib/project-iam-member";

export interface NodeIdentityProps {
  readonly project: string;
  /** 6-30 characters, lowercase letters, digits and hyphens, starting with a letter. */
  readonly accountId: string;
  readonly displayName: string;
}

export const NODE_ROLES = [
  "roles/logging.logWriter",
  "roles/monitoring.metricWriter",
  "roles/monitoring.viewer",
  "roles/stackdriver.resourceMetadata.writer",
  "roles/autoscaling.metricsWriter",
  "roles/artifactregistry.reader",
] as const;

export class NodeIdentity extends Construct {
  readonly serviceAccount: ServiceAccount;
  readonly email: string;
  readonly roleBindings: ProjectIamMember[];

  constructor(scope: Construct, id: string, props: NodeIdentityProps) {
    super(scope, id);
    if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(props.accountId)) {
      throw new Error(
        `NodeIdentity accountId "${props.accountId}" is not a valid service account id; use 6-30 lowercase letters, digits or hyphens starting with a letter`,
      );
    }
    this.serviceAccount = new ServiceAccount(this, "account", {
      project: props.project,
      accountId: props.accountId,
      displayName: props.displayName,
    });
    this.email = this.serviceAccount.email;
    this.roleBindings = NODE_ROLES.map(
      (role) =>
        new ProjectIamMember(this, role.replace("roles/", ""), {
          project: props.project,
          role,
          member: this.serviceAccount.member,
        }),
    );
  }
}
