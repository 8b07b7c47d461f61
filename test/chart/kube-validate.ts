// Validates Kubernetes objects: built-in kinds against the OpenAPI schemas shipped in kubernetes-models,
// custom resources against the small schemas in ./crd-schemas (the fields this project writes).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv, { ValidateFunction } from "ajv";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

const ajv = new Ajv({ allErrors: true, strict: true });
const crdValidators = new Map<string, ValidateFunction>();
const crdDir = join(__dirname, "crd-schemas");
for (const file of readdirSync(crdDir).filter((f) => f.endsWith(".json"))) {
  const schema = JSON.parse(readFileSync(join(crdDir, file), "utf8"));
  crdValidators.set(`${schema.properties.apiVersion.const}/${schema.properties.kind.const}`, ajv.compile(schema));
}

function builtinModel(apiVersion: string, kind: string): ModelClass | undefined {
  const modulePath = `kubernetes-models/${apiVersion}`;
  let module: Record<string, unknown>;
  try {
    module = require(modulePath);
  } catch {
    return undefined;
  }
  return module[kind] as ModelClass | undefined;
}

/** Returns the problems with one object; an empty list means it is valid. Unknown kinds are a problem too. */
export function validateKubeObject(obj: KubeObject): string[] {
  const where = `${obj.kind ?? "?"} ${obj.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata?.name ?? "?"}`;
  const crd = crdValidators.get(`${obj.apiVersion}/${obj.kind}`);
  if (crd) {
    return crd(obj) ? [] : (crd.errors ?? []).map((e) => `${where}: ${e.instancePath || "/"} ${e.message}`);
  }
  const Model = builtinModel(obj.apiVersion, obj.kind);
  if (!Model) return [`${where}: no schema for ${obj.apiVersion} ${obj.kind}; add one to test/chart/crd-schemas`];
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    return [`${where}: ${err instanceof Error ? err.message : String(err)}`];
  }
}
