// Small helpers for kubernetes_manifest objects, so every in-cluster construct writes them the same way.
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest";

export type KubeManifest = { apiVersion: string; kind: string; metadata: Record<string, unknown> } & Record<string, unknown>;

export function manifest(scope: Construct, id: string, body: KubeManifest, dependsOn: ITerraformDependable[] = []): Manifest {
  return new Manifest(scope, id, { manifest: body, dependsOn: dependsOn.length > 0 ? dependsOn : undefined });
}

export interface NamespaceOptions {
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function namespace(scope: Construct, id: string, name: string, options: NamespaceOptions = {}): Manifest {
  const metadata: Record<string, unknown> = { name };
  if (options.labels) metadata.labels = options.labels;
  if (options.annotations) metadata.annotations = options.annotations;
  return manifest(scope, id, { apiVersion: "v1", kind: "Namespace", metadata });
}
