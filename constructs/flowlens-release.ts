// The Flowlens chart (charts/flowlens) installed from the local checkout, Standard or Autopilot profile.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import { Release } from "@cdktf/provider-helm/lib/release";
import { stringify } from "yaml";
import type { Mode, UiAuthConfig } from "../environments/schema";
import type { IDeclaresPodFootprints, PodFootprint } from "./workload-footprint";

export const CHART_DIR = join(__dirname, "..", "charts", "flowlens");

/** Helm release name; object names in the chart derive from it. */
export const FLOWLENS_RELEASE_NAME = "flowlens";

export interface FlowlensReleaseProps {
  readonly mode: Mode;
  /** Image holding the agent, relay and UI entrypoints, without tag. */
  readonly imageRepository: string;
  /** @default - the chart's appVersion */
  readonly imageTag?: string;
  /** Recent flows each agent keeps (agent --ring-capacity). @default 65536 */
  readonly ringCapacity?: number;
  /** @default { mode: "token" } */
  readonly uiAuth?: UiAuthConfig;
  /** @default "flowlens" */
  readonly namespace?: string;
  /** Annotations for the chart's NetworkPolicies (policy logging delegation). @default {} */
  readonly networkPolicyAnnotations?: Record<string, string>;
  /**
   * Chart location as Terraform sees it; Terraform runs in cdktf.out/stacks/<stack>.
   * @default "../../../charts/flowlens" (cdktf.out at the repository root)
   */
  readonly chartPath?: string;
  readonly dependsOn?: ITerraformDependable[];
}

/** Pods the chart schedules that ask anything of the node; relay and UI run fully restricted. */
export function flowlensChartFootprints(mode: Mode, namespace: string, release = FLOWLENS_RELEASE_NAME): PodFootprint[] {
  if (mode === "autopilot") return [];
  return [
    {
      workload: `DaemonSet/${namespace}/${release}-agent`,
      privileged: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      writableHostPaths: [],
      readOnlyHostPaths: ["/sys/fs/bpf", "/sys/fs/cgroup"],
      addedCapabilities: ["BPF", "NET_ADMIN", "PERFMON"],
    },
  ];
}

/** sha256 over the chart's files, so any template change makes Terraform upgrade the release. */
export function chartDigest(dir = CHART_DIR): string {
  const hash = createHash("sha256");
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(dir, path)).update("\0").update(readFileSync(path)).update("\0");
    }
  };
  walk(dir);
  return hash.digest("hex");
}

export class FlowlensRelease extends Construct implements IDeclaresPodFootprints {
  readonly release: Release;
  readonly namespace: string;
  readonly values: Record<string, unknown>;
  private readonly mode: Mode;

  constructor(scope: Construct, id: string, props: FlowlensReleaseProps) {
    super(scope, id);
    this.mode = props.mode;
    this.namespace = props.namespace ?? "flowlens";
    const uiAuth = props.uiAuth ?? { mode: "token" };
    this.values = {
      profile: props.mode,
      image: { repository: props.imageRepository, ...(props.imageTag ? { tag: props.imageTag } : {}) },
      agent: { ringCapacity: props.ringCapacity ?? 65536 },
      ui: { auth: uiAuth.mode === "iap" ? { mode: "iap", iapAudience: uiAuth.audience } : { mode: "token" } },
      networkPolicy: { annotations: props.networkPolicyAnnotations ?? {} },
    };
    this.release = new Release(this, "release", {
      name: FLOWLENS_RELEASE_NAME,
      chart: props.chartPath ?? "../../../charts/flowlens",
      namespace: this.namespace,
      createNamespace: false,
      description: `flowlens chart sha256:${chartDigest()}`,
      values: [stringify(this.values)],
      atomic: true,
      cleanupOnFail: true,
      timeout: 600,
      dependsOn: props.dependsOn,
    });
  }

  podFootprints(): PodFootprint[] {
    return flowlensChartFootprints(this.mode, this.namespace, FLOWLENS_RELEASE_NAME);
  }
}
