// Network policy logging through GKE's one cluster-scoped NetworkLogging object, `default`. GKE creates it,
// so it is imported into state and then managed, never created.
import { Construct } from "constructs";
import { TerraformStack } from "cdktf";
import type { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";
import { manifest } from "./kubernetes-manifest";

export interface PolicyLoggingProps {
  readonly allow: boolean;
  readonly deny: boolean;
  /** Log only for annotated NetworkPolicies (allow) and Namespaces (deny). */
  readonly delegate: boolean;
}

/** Annotation that turns on allow-logging for one NetworkPolicy when logging is delegated. */
export const ALLOW_LOGGING_ANNOTATION = { "policy.network.gke.io/enable-logging": "true" };
/** Annotation that turns on deny-logging for one Namespace when logging is delegated. */
export const DENY_LOGGING_ANNOTATION = { "policy.network.gke.io/enable-deny-logging": "true" };

export const NETWORK_LOGGING_IMPORT_ID = "apiVersion=networking.gke.io/v1alpha1,kind=NetworkLogging,name=default";

export class PolicyLogging extends Construct {
  readonly resource: Manifest;

  constructor(scope: Construct, id: string, props: PolicyLoggingProps) {
    super(scope, id);
    this.resource = manifest(this, "default", {
      apiVersion: "networking.gke.io/v1alpha1",
      kind: "NetworkLogging",
      metadata: { name: "default" },
      spec: {
        cluster: {
          allow: { log: props.allow, delegate: props.delegate },
          deny: { log: props.deny, delegate: props.delegate },
        },
      },
    });
    // The same `import` block that `importFrom` writes, added as a stack override: `importFrom` makes
    // cdktf run `terraform version` during synth, so synth would need a terraform binary on PATH.
    // Terraform itself (>= 1.5, which plan and apply need anyway) reads the block.
    TerraformStack.of(this).addOverride("import", [
      { to: `kubernetes_manifest.${this.resource.friendlyUniqueId}`, id: NETWORK_LOGGING_IMPORT_ID },
    ]);
  }
}
