// What the daemon knows about the workloads around a flow, whichever source
// (the Kubernetes API or the lab's metadata file) it came from.

export interface WorkloadRef {
  name: string;
  kind: string;
}

export interface PodInfo {
  namespace: string;
  name: string;
  /** Node the pod runs on, when known. */
  node?: string;
  labels: Record<string, string>;
  workloads: WorkloadRef[];
  ips: string[];
}

export interface ServicePort {
  port: number;
  protocol: string;
}

export interface ServiceInfo {
  namespace: string;
  name: string;
  clusterIPs: string[];
  ports: ServicePort[];
}

/** Resolves cgroup ids and IP addresses to pods and services. */
export interface Enrichment {
  podByCgroup(cgroupId: bigint): PodInfo | undefined;
  podByIp(ip: string): PodInfo | undefined;
  serviceByIp(ip: string): ServiceInfo | undefined;
  /** True once the first complete view has been loaded. */
  readonly synced: boolean;
  /** Stops watching and releases timers, sockets and file watches. */
  close(): Promise<void>;
}
