// In-memory lookup tables shared by both enrichment sources. Pods are keyed by
// "namespace/name" so an update replaces every IP and cgroup id the pod had.
import type { PodInfo, ServiceInfo } from "./types";

export class EndpointIndex {
  private readonly pods = new Map<string, PodInfo>();
  private readonly podCgroups = new Map<string, bigint[]>();
  private readonly byIp = new Map<string, string>();
  private readonly byCgroup = new Map<bigint, string>();
  private readonly services = new Map<string, ServiceInfo>();
  private readonly serviceByIp = new Map<string, string>();

  static podKey(pod: { namespace: string; name: string }): string {
    return `${pod.namespace}/${pod.name}`;
  }

  upsertPod(pod: PodInfo, cgroupIds: bigint[] = this.podCgroups.get(EndpointIndex.podKey(pod)) ?? []): void {
    const key = EndpointIndex.podKey(pod);
    this.deletePod(key);
    this.pods.set(key, pod);
    for (const ip of pod.ips) this.byIp.set(ip, key);
    this.podCgroups.set(key, cgroupIds);
    for (const id of cgroupIds) this.byCgroup.set(id, key);
  }

  deletePod(key: string): void {
    const old = this.pods.get(key);
    if (!old) return;
    for (const ip of old.ips) if (this.byIp.get(ip) === key) this.byIp.delete(ip);
    for (const id of this.podCgroups.get(key) ?? []) if (this.byCgroup.get(id) === key) this.byCgroup.delete(id);
    this.pods.delete(key);
    this.podCgroups.delete(key);
  }

  upsertService(svc: ServiceInfo): void {
    const key = EndpointIndex.podKey(svc);
    this.deleteService(key);
    this.services.set(key, svc);
    for (const ip of svc.clusterIPs) this.serviceByIp.set(ip, key);
  }

  deleteService(key: string): void {
    const old = this.services.get(key);
    if (!old) return;
    for (const ip of old.clusterIPs) if (this.serviceByIp.get(ip) === key) this.serviceByIp.delete(ip);
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
    const key = this.byCgroup.get(id);
    return key === undefined ? undefined : this.pods.get(key);
  }

  podByIp(ip: string): PodInfo | undefined {
    const key = this.byIp.get(ip);
    return key === undefined ? undefined : this.pods.get(key);
  }

  serviceByIpAddress(ip: string): ServiceInfo | undefined {
    const key = this.serviceByIp.get(ip);
    return key === undefined ? undefined : this.services.get(key);
  }
}
