// Terraform state location of one stack, from the environment's `backend` section.
import { join } from "node:path";
import { GcsBackend, LocalBackend, TerraformStack } from "cdktf";
import type { Environment } from "../environments/schema";

/** Kind of stack per environment; each keeps its own state. */
export type StackKind = "cluster" | "platform";

export function configureBackend(stack: TerraformStack, e: Environment, kind: StackKind): void {
  const backend = e.backend;
  const stackId = `${e.team}-${e.env}-${kind}`;
  if (backend.type === "gcs") {
    new GcsBackend(stack, { bucket: backend.bucket, prefix: `${backend.prefix ?? `${e.team}/${e.env}`}/${kind}` });
  } else if (backend.path) {
    new LocalBackend(stack, { path: join(backend.path, `terraform.${stackId}.tfstate`) });
  } else {
    new LocalBackend(stack, { path: `terraform.${stackId}.tfstate` });
  }
}
