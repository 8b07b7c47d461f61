// Writes the text of a new, valid environment template with every section spelled out, so a team
// starts from a file that already synthesizes and shows what it can change.
import { stringify } from "yaml";
import { EnvironmentInput, Mode, environmentName, isProduction } from "./schema";

export interface ScaffoldOptions {
  team: string;
  env: string;
  mode: Mode;
  /** @default - `<team>-<env>-gke`, a placeholder to replace with the real project id */
  project?: string;
  /** @default "europe-west1" */
  region?: string;
}

export function scaffoldEnvironment(o: ScaffoldOptions): { input: EnvironmentInput; text: string } {
  const production = isProduction(o);
  const input: EnvironmentInput = {
    team: o.team,
    env: o.env,
    project: o.project ?? `${o.team}-${o.env}-gke`,
    region: o.region ?? "europe-west1",
    mode: o.mode,
    network: {
      nodesCidr: "10.10.0.0/20",
      podsCidr: "10.20.0.0/14",
      servicesCidr: "10.24.0.0/20",
      controlPlaneCidr: "172.16.0.0/28",
    },
    // Production gets a private endpoint so the template passes the production policy checks as written.
    controlPlane: { privateEndpoint: production, authorizedNetworks: [] },
    releaseChannel: production ? "STABLE" : "REGULAR",
    ...(o.mode === "standard"
      ? { nodePool: { machineType: "e2-standard-4", minNodes: 1, maxNodes: 3, diskSizeGb: 100, spot: !production } }
      : {}),
    labels: {},
    deletionProtection: true,
    backend: { type: "local" },
    platform: {
      flowObservability: { enabled: true, ringCapacity: 65536, uiAuth: { mode: "token" } },
      egressNat: { destinations: [] },
      policyLogging: { enabled: true, allow: false, deny: true, delegate: false },
      microservicesDemo: { enabled: false },
      sidecarMesh: { enabled: false, istioVersion: "1.27.1" },
    },
  };
  const header = [
    "# yaml-language-server: $schema=./environment.schema.json",
    `# ${environmentName(o)}: ${o.mode === "standard" ? "GKE Standard" : "GKE Autopilot"} with Dataplane V2.`,
    "# Every field is described in docs/environments.md and in environment.schema.json.",
    ...(o.project ? [] : ["# Replace `project` with your GCP project id."]),
    "",
  ].join("\n");
  return { input, text: `${header}${stringify(input)}` };
}
