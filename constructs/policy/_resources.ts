// Reads a resource's synthesized attributes, overrides included, so policies judge what Terraform will get.
import { TerraformResource, TerraformStack } from "cdktf";
import type { IConstruct } from "constructs";

export interface SynthesizedResource {
  node: TerraformResource;
  type: string;
  attributes: Record<string, unknown>;
}

export function synthesizedResource(node: IConstruct): SynthesizedResource | undefined {
  if (!TerraformResource.isTerraformResource(node)) return undefined;
  const resource = node.toTerraform().resource as Record<string, Record<string, Record<string, unknown>>> | undefined;
  const byId = resource?.[node.terraformResourceType];
  const attributes = byId ? Object.values(byId)[0] : undefined;
  return attributes ? { node, type: node.terraformResourceType, attributes } : undefined;
}

/** Every resource of `node` when it is a stack (aspects judge a stack as a whole); otherwise none. */
export function stackResources(node: IConstruct): SynthesizedResource[] {
  if (!TerraformStack.isStack(node)) return [];
  return node.node.findAll().flatMap((n) => synthesizedResource(n) ?? []);
}

/** Value at a dotted path; blocks synthesized as one-element lists are looked through. */
export function attributeAt(attributes: Record<string, unknown>, path: string): unknown {
  let current: unknown = attributes;
  for (const key of path.split(".")) {
    if (Array.isArray(current)) current = current[0];
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
