// Enrichment from the Kubernetes API. Three watches: this node's pods (full
// objects: their cgroups are resolved on this node), every pod in the cluster
// reduced to its IPs and identity (to name remote peers), and services.
import * as fs from "node:fs";
import * as path from "node:path";
import { EndpointIndex } from "./endpoint-index";
import { KubeWatch, type KubeApiConfig, type KubeObject } from "./kubernetes-client";
import type { Enrichment, PodInfo, ServiceInfo, WorkloadRef } from "./types";

interface Pod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}

interface Service extends KubeObject {
  spec?: { clusterIPs?: string[]; clusterIP?: string; ports?: { port: number; protocol?: string }[] };
}

/** The owning workload, with a ReplicaSet created by a Deployment reported as the Deployment. */
export function workloadsOf(pod: KubeObject): WorkloadRef[] {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!owner) return [];
  const hash = pod.metadata?.labels?.["pod-template-hash"];
  if (owner.kind === "ReplicaSet" && hash && owner.name.endsWith(`-${hash}`)) {
    return [{ kind: "Deployment", name: owner.name.slice(0, -hash.length - 1) }];
  }
  return [{ kind: owner.kind, name: owner.name }];
}

export function podInfoOf(pod: Pod): PodInfo {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return {
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    node: pod.spec?.nodeName,
    labels: pod.metadata?.labels ?? {},
    workloads: workloadsOf(pod),
    ips,
  };
}

export function serviceInfoOf(svc: Service): ServiceInfo {
  const ips = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
  return {
    namespace: svc.metadata?.namespace ?? "",
    name: svc.metadata?.name ?? "",
    clusterIPs: ips.filter((ip) => ip && ip !== "None"),
    ports: (svc.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? "TCP" })),
  };
}

/**
 * Finds the cgroup directories of each pod under the cgroup root. Kubelet names
 * a pod's cgroup after its UID: `pod<uid>` with the cgroupfs driver and
 * `...-pod<uid_with_underscores>.slice` with the systemd driver; the sockets
 * live in the container cgroups below it.
 */
export function findPodCgroups(cgroupRoot: string, uids: string[], maxDepth = 6): Map<string, bigint[]> {
  const wanted = new Map<string, string>();
  for (const uid of uids) {
    wanted.set(`pod${uid}`, uid);
    wanted.set(`pod${uid.replace(/-/g, "_")}`, uid);
  }
  const found = new Map<string, bigint[]>();
  const collect = (dir: string, uid: string, depth: number) => {
    try {
      found.get(uid)!.push(fs.statSync(dir, { bigint: true }).ino);
      if (depth > 0) for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) collect(path.join(dir, e.name), uid, depth - 1);
    } catch {
      // The cgroup went away while walking; the next scan will not see it.
    }
  };
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const match = /pod([0-9a-f_-]{36})(\.slice)?$/.exec(e.name);
      const uid = match ? wanted.get(`pod${match[1]}`) : undefined;
      if (uid) {
        if (!found.has(uid)) found.set(uid, []);
        collect(path.join(dir, e.name), uid, 2);
      } else if (depth > 0) {
        walk(path.join(dir, e.name), depth - 1);
      }
    }
  };
  walk(cgroupRoot, maxDepth);
  return found;
}

export interface KubernetesEnrichmentOptions {
  config: KubeApiConfig;
  nodeName: string;
  cgroupRoot: string;
  onError?: (err: Error) => void;
  /** Containers start after their pod is scheduled; cgroups are looked up again this often. @default 5000 */
  rescanMs?: number;
}

export class KubernetesEnrichment implements Enrichment {
  private readonly index = new EndpointIndex();
  private readonly nodePods = new Map<string, PodInfo>();
  private readonly watches: KubeWatch<KubeObject>[] = [];
  private readonly listed = new Set<string>();
  private rescanTimer?: NodeJS.Timeout;

  constructor(private readonly options: KubernetesEnrichmentOptions) {}

  get synced(): boolean {
    return this.listed.size === 3;
  }

  start(): this {
    const onError = this.options.onError ?? (() => undefined);
    const { config, nodeName } = this.options;
    const nodePods = new KubeWatch<Pod>(config, "/api/v1/pods", { fieldSelector: `spec.nodeName=${nodeName}` }, {
      onList: (items) => {
        this.nodePods.clear();
        for (const p of items) if (p.metadata?.uid) this.nodePods.set(p.metadata.uid, podInfoOf(p));
        this.listed.add("node-pods");
        this.rescan();
      },
      onEvent: (type, p) => {
        const uid = p.metadata?.uid;
        if (!uid) return;
        if (type === "DELETED") this.nodePods.delete(uid);
        else this.nodePods.set(uid, podInfoOf(p));
        this.rescan();
      },
      onError,
    });
    const allPods = new KubeWatch<Pod>(config, "/api/v1/pods", {}, {
      onList: (items) => {
        const keep = new Set(items.map((p) => EndpointIndex.podKey(podInfoOf(p))));
        for (const key of this.index.podKeys()) if (!keep.has(key)) this.index.deletePod(key);
        for (const p of items) this.index.upsertPod(podInfoOf(p));
        this.listed.add("pods");
      },
      onEvent: (type, p) => {
        const info = podInfoOf(p);
        if (type === "DELETED") this.index.deletePod(EndpointIndex.podKey(info));
        else this.index.upsertPod(info);
      },
      onError,
    });
    const services = new KubeWatch<Service>(config, "/api/v1/services", {}, {
      onList: (items) => {
        const keep = new Set(items.map((s) => EndpointIndex.podKey(serviceInfoOf(s))));
        for (const key of this.index.serviceKeys()) if (!keep.has(key)) this.index.deleteService(key);
        for (const s of items) this.index.upsertService(serviceInfoOf(s));
        this.listed.add("services");
      },
      onEvent: (type, s) => {
        const info = serviceInfoOf(s);
        if (type === "DELETED") this.index.deleteService(EndpointIndex.podKey(info));
        else this.index.upsertService(info);
      },
      onError,
    });
    this.watches.push(nodePods.start(), allPods.start(), services.start());
    this.rescanTimer = setInterval(() => this.rescan(), this.options.rescanMs ?? 5000);
    this.rescanTimer.unref();
    return this;
  }

  /** Maps every cgroup of this node's pods to the pod. */
  private rescan(): void {
    const cgroups = findPodCgroups(this.options.cgroupRoot, [...this.nodePods.keys()]);
    for (const [uid, pod] of this.nodePods) this.index.upsertPod(pod, cgroups.get(uid) ?? []);
  }

  podByCgroup(cgroupId: bigint): PodInfo | undefined {
    return this.index.podByCgroup(cgroupId);
  }

  podByIp(ip: string): PodInfo | undefined {
    return this.index.podByIp(ip);
  }

  serviceByIp(ip: string): ServiceInfo | undefined {
    return this.index.serviceByIpAddress(ip);
  }

  async close(): Promise<void> {
    clearInterval(this.rescanTimer);
    for (const w of this.watches) w.stop();
  }
}
