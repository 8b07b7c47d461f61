// The pod metadata file the agents read (format in docs/DEVELOPING.md),
// written atomically so a watcher never sees half a file.
import * as fs from "node:fs";
import { NAMESPACE, type LabPlan } from "./plan";

export interface LabMetadata {
  pods: { namespace: string; name: string; node: string; labels: Record<string, string>; workload: { name: string; kind: string }; ips: string[]; cgroupPath: string }[];
  services: { namespace: string; name: string; clusterIPs: string[]; ports: { port: number; protocol: string }[]; selector: Record<string, string> }[];
}

function labMetadata(plan: LabPlan): LabMetadata {
  return {
    pods: plan.pods.map((p) => ({
      namespace: NAMESPACE,
      name: p.name,
      node: p.node.name,
      labels: { app: p.app },
      workload: { name: p.app, kind: "Deployment" },
      ips: [p.ip],
      cgroupPath: p.cgroup,
    })),
    services: plan.pods
      .filter((p) => p.service)
      .map((p) => ({
        namespace: NAMESPACE,
        name: p.service!.name,
        clusterIPs: [p.service!.clusterIp],
        ports: [{ port: p.service!.port, protocol: "TCP" }],
        selector: { app: p.app },
      })),
  };
}

export function writeMetadata(plan: LabPlan): void {
  const tmp = `${plan.metadataFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(labMetadata(plan), null, 2), { mode: 0o644 });
  fs.renameSync(tmp, plan.metadataFile);
}
