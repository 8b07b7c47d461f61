// In-memory lookup tables shared by both enrichment sources. Pods are keyed by
// "namespace/name" so an update replaces every IP and cgroup id the pod had.
// Cgroup ids (inode numbers, far below 2^53) are kept as numbers: Map lookups
// by BigInt are several times slower, and this runs once per kernel record.
import type { PodInfo, ServiceInfo } from "./types";

export class EndpointIndex {
  private readonly pods = new Map<string, PodInfo>();
  private readonly podCgroups = new Map<string, number[]>();
  private readonly byIp = new Map<string, PodInfo>();
  private readonly byCgroup = new Map<number, PodInfo>();
  private readonly services = new Map<string, ServiceInfo>();
  private readonly serviceByIp = new Map<string, ServiceInfo>();

  static podKey(pod: { namespace: string; name: string }): string {
    return `${pod.namespace}/${pod.name}`;
  }

  /** Adds or replaces a pod; without `cgroupIds` it keeps the cgroups already known for it. */
  upsertPod(pod: PodInfo, cgroupIds?: bigint[]): void {
    const key = EndpointIndex.podKey(pod);
    const ids = cgroupIds ? cgroupIds.map(Number) : (this.podCgroups.get(key) ?? []);
    this.deletePod(key);
    this.pods.set(key, pod);
    for (const ip of pod.ips) this.byIp.set(ip, pod);
    this.podCgroups.set(key, ids);
    for (const id of ids) this.byCgroup.set(id, pod);
  }

  deletePod(key: string): void {
    const old = this.pods.get(key);
    if (!old) return;
    for (const ip of old.ips) if (this.byIp.get(ip) === old) this.byIp.delete(ip);
    for (const id of this.podCgroups.get(key) ?? []) if (this.byCgroup.get(id) === old) this.byCgroup.delete(id);
    this.pods.delete(key);
    this.podCgroups.delete(key);
  }

  upsertService(svc: ServiceInfo): void {
    const key = EndpointIndex.podKey(svc);
    this.deleteService(key);
    this.services.set(key, svc);
    for (const ip of svc.clusterIPs) this.serviceByIp.set(ip, svc);
  }

  deleteService(key: string): void {
    const old = this.services.get(key);
    if (!old) return;
    for (const ip of old.clusterIPs) if (this.serviceByIp.get(ip) === old) this.serviceByIp.delete(ip);
    this.services.delete(key);
  }

  /** Replaces everything with a complete snapshot (the metadata file is always complete). */
  replaceAll(pods: { pod: PodInfo; cgroupIds: bigint[] }[], services: ServiceInfo[]): void {
    for (const m of [this.pods, this.podCgroups, this.byIp, this.byCgroup, this.services, this.serviceByIp]) m.clear();
    for (const p of pods) this.upsertPod(p.pod, p.cgroupIds);
    for (const s of services) this.upsertService(s);
  }

  podKeys(): string[] {
    return [...this.pods.keys()];
  }

  serviceKeys(): string[] {
    return [...this.services.keys()];
  }

  podByCgroup(id: bigint): PodInfo | undefined {
    return this.byCgroup.get(Number(id));
  }

  podByIp(ip: string): PodInfo | undefined {
    return this.byIp.get(ip);
  }

  serviceByIpAddress(ip: string): ServiceInfo | undefined {
    return this.serviceByIp.get(ip);
  }
}
