// Writes environment.schema.json from the zod schema so editors complete and check the YAML templates.
// `tsx environments/emit-json-schema.ts` rewrites it; `--check` fails when the committed file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zodToJsonSchema } from "zod-to-json-schema";
import { EnvironmentSchema } from "./schema";

export const JSON_SCHEMA_PATH = join(__dirname, "environment.schema.json");

export function environmentJsonSchema(): string {
  const schema = zodToJsonSchema(EnvironmentSchema, { name: "Environment", $refStrategy: "none" });
  return `${JSON.stringify(
    { ...schema, title: "Flowlens environment template (environments/<team>-<env>.yaml)" },
    null,
    2,
  )}\n`;
}

function main(argv: string[]): number {
  const text = environmentJsonSchema();
  if (argv.includes("--check")) {
    const current = readFileSync(JSON_SCHEMA_PATH, "utf8");
    if (current !== text) {
      process.stderr.write(`${JSON_SCHEMA_PATH} is stale; run: npx tsx environments/emit-json-schema.ts\n`);
      return 1;
    }
    return 0;
  }
  writeFileSync(JSON_SCHEMA_PATH, text);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
