// What a scheduled pod asks of its node, reduced to the settings Autopilot's admission judges.
// Built from pod specs (manifests, rendered charts) or declared by constructs that wrap Helm charts.

export interface PodFootprint {
  /** "<Kind>/<namespace>/<name>" of the workload, plus the container when one is to blame. */
  readonly workload: string;
  readonly privileged: boolean;
  readonly hostNetwork: boolean;
  readonly hostPID: boolean;
  readonly hostIPC: boolean;
  /** Host paths mounted without readOnly. */
  readonly writableHostPaths: string[];
  /** Host paths mounted readOnly. */
  readonly readOnlyHostPaths: string[];
  /** Capabilities added by any container, without the CAP_ prefix. */
  readonly addedCapabilities: string[];
}

/** A construct whose pods are not visible as manifests (a Helm release) declares them here. */
export interface IDeclaresPodFootprints {
  podFootprints(): PodFootprint[];
}

export function declaresPodFootprints(x: unknown): x is IDeclaresPodFootprints {
  return typeof x === "object" && x !== null && typeof (x as IDeclaresPodFootprints).podFootprints === "function";
}

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const asArray = (v: unknown): Json[] => (Array.isArray(v) ? v.map(asObject) : []);

/** The pod template of a workload object, or undefined when the kind schedules no pods. */
export function podSpecOf(obj: Json): Json | undefined {
  const spec = asObject(obj.spec);
  switch (obj.kind) {
    case "Pod":
      return spec;
    case "Deployment":
    case "DaemonSet":
    case "StatefulSet":
    case "ReplicaSet":
    case "Job":
      return asObject(asObject(spec.template).spec);
    case "CronJob":
      return asObject(asObject(asObject(asObject(spec.jobTemplate).spec).template).spec);
    default:
      return undefined;
  }
}

/** Footprint of a workload object (Pod, Deployment, DaemonSet, StatefulSet, ReplicaSet, Job, CronJob). */
export function footprintOfWorkload(obj: Json): PodFootprint | undefined {
  const pod = podSpecOf(obj);
  if (!pod) return undefined;
  const meta = asObject(obj.metadata);
  const workload = `${String(obj.kind)}/${String(meta.namespace ?? "default")}/${String(meta.name)}`;
  const containers = [...asArray(pod.initContainers), ...asArray(pod.containers), ...asArray(pod.ephemeralContainers)];
  const hostPathVolumes = new Map(
    asArray(pod.volumes)
      .filter((v) => v.hostPath !== undefined)
      .map((v) => [String(v.name), String(asObject(v.hostPath).path)]),
  );
  const writable = new Set<string>();
  const readOnly = new Set<string>();
  const capabilities = new Set<string>();
  let privileged = false;
  for (const c of containers) {
    const sc = asObject(c.securityContext);
    if (sc.privileged === true) privileged = true;
    for (const cap of (asObject(sc.capabilities).add as unknown[] | undefined) ?? []) {
      capabilities.add(String(cap).replace(/^CAP_/, ""));
    }
    for (const m of asArray(c.volumeMounts)) {
      const path = hostPathVolumes.get(String(m.name));
      if (path !== undefined) (m.readOnly === true ? readOnly : writable).add(path);
    }
  }
  return {
    workload,
    privileged,
    hostNetwork: pod.hostNetwork === true,
    hostPID: pod.hostPID === true,
    hostIPC: pod.hostIPC === true,
    writableHostPaths: [...writable].sort(),
    readOnlyHostPaths: [...readOnly].filter((p) => !writable.has(p)).sort(),
    addedCapabilities: [...capabilities].sort(),
  };
}

/** Why Autopilot's admission would reject this pod; empty when it would not on these grounds. */
export function autopilotRejections(f: PodFootprint): string[] {
  const reasons: string[] = [];
  if (f.privileged) reasons.push("runs a privileged container");
  if (f.hostNetwork) reasons.push("uses the host network");
  if (f.hostPID) reasons.push("uses the host PID namespace");
  if (f.hostIPC) reasons.push("uses the host IPC namespace");
  // Autopilot admits read-only hostPath mounts under /var/log only; writable ones never.
  for (const path of f.writableHostPaths) reasons.push(`mounts hostPath ${path} writable`);
  for (const path of f.readOnlyHostPaths.filter((p) => p !== "/var/log" && !p.startsWith("/var/log/"))) {
    reasons.push(`mounts hostPath ${path}, outside /var/log`);
  }
  return reasons;
}
