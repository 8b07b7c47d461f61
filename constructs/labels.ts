// Labels every labelled resource of an environment carries, so billing and inventory can be split per team.
import type { Environment } from "../environments/schema";

export function environmentLabels(e: Pick<Environment, "team" | "env" | "labels">): Record<string, string> {
  return { ...e.labels, team: e.team, env: e.env, "managed-by": "flowlens" };
}
