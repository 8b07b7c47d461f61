# The CDKTF app: the editor schema for environment templates, a synth summary and the synth benchmark.
ENV_JSON_SCHEMA := environments/environment.schema.json

BUILD_TARGETS += $(ENV_JSON_SCHEMA)

.PHONY: synth-summary bench-synth

# Regenerated only when the zod schema changes; the foundation tests fail if the committed copy is stale.
$(ENV_JSON_SCHEMA): environments/schema.ts environments/cidr.ts environments/emit-json-schema.ts | deps
	tsx environments/emit-json-schema.ts

synth-summary: deps
	tsx stacks/synth-summary.ts

bench-synth: deps
	tsx bench/synth/bench.ts
