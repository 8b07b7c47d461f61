// The lab's address and naming plan, derived from a few options. Everything
// the lab creates is named here, so `down` can find leftovers even without a
// state file.
import * as path from "node:path";
import { LOADGENERATOR, NAMESPACE, SERVICES, type ServiceSpec } from "./topology";
import { LabError } from "./errors";

export const CGROUP_UNIFIED = "/sys/fs/cgroup/unified";
export const RUN_DIR = "/run/flowlens-lab";
/** A CIDR covering the fabric, every node's pod range and the service range: never masqueraded. */
export const CLUSTER_CIDR = "198.19.0.0/17";
/** The "peered network" on the external host: reached without SNAT. */
export const PEERED_CIDR = "198.19.250.0/24";
export const PEERED_HOST = "198.19.250.10";
/** The "internet" on the external host: reached through the node's masquerade. */
export const INTERNET_HOST = "198.19.251.10";
export const EXTERNAL_PORT = 8080;
export const EXTERNAL_FABRIC_IP = "198.19.0.254";

export interface LabOptions {
  /** Prefix of every namespace and the cgroup directory name. @default "flowlens-lab" */
  name: string;
  /** Number of nodes (2..8). @default 2 */
  nodes: number;
  /** First three octets of the loopback addresses the agents listen on (node i gets .i+1). @default "127.0.1" */
  agentLoopback: string;
  relayAddress: string;
  uiAddress: string;
  /** Steady request rate of the load generator (requests/s). @default 5 */
  loadRate: number;
  sidecars: boolean;
  /** Niceness of every lab process; the benchmark lowers it to shield the measurement from other work. @default 0 */
  nice: number;
  /** Start only the network and the replica, no agents, relay or UI. @default false */
  replicaOnly: boolean;
  /**
   * Copies of the replica on the same nodes: 1 for the lab; the benchmark runs 2 side by side ("a" and "b"),
   * each in its own cgroup subtree per node with its own addresses, driven by one shared load generator.
   * @default 1
   */
  copies: number;
  /** CIDRs reached without SNAT, from the environment template (plus the lab's peered range). */
  noSnatCidrs: string[];
}

export const DEFAULT_OPTIONS: LabOptions = {
  name: "flowlens-lab",
  nodes: 2,
  agentLoopback: "127.0.1",
  relayAddress: "127.0.0.1:4245",
  uiAddress: "127.0.0.1:12000",
  loadRate: 5,
  sidecars: false,
  replicaOnly: false,
  nice: 0,
  copies: 1,
  noSnatCidrs: [],
};

/** Names of the replica copies when the lab runs two (their cgroup directories under each node). */
export const COPIES = ["a", "b"] as const;
/** Cgroup directory under each node of a pod that belongs to no copy (the shared load generator). */
export const SHARED = "shared";

export interface NodePlan {
  index: number;
  name: string;
  netns: string;
  fabricIp: string;
  podCidr: string;
  gateway: string;
  cgroup: string;
  agentAddress: string;
}

export interface PodPlan {
  name: string;
  app: string;
  node: NodePlan;
  netns: string;
  ip: string;
  /** Name of the pod's veth end in the node namespace. */
  hostVeth: string;
  cgroup: string;
  /** The replica copy the pod belongs to; undefined with one copy, and for the load generator shared by two. */
  copy?: string;
  service?: ServiceSpec & { clusterIp: string };
}

export interface LabPlan {
  options: LabOptions;
  dir: string;
  stateFile: string;
  metadataFile: string;
  cgroupRoot: string;
  systemCgroup: string;
  fabricNetns: string;
  externalNetns: string;
  nodes: NodePlan[];
  pods: PodPlan[];
  /** The copies' names (empty with one copy). */
  copies: string[];
}

const NAME = /^[a-z][a-z0-9-]{1,30}$/;

/** A short, stable suffix so pod names look like Deployment pods and differ between labs. */
function podSuffix(labName: string, app: string): string {
  let h = 2166136261;
  for (const c of `${labName}/${app}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h.toString(36).slice(0, 5).padStart(5, "x");
}

export function makePlan(options: LabOptions): LabPlan {
  if (!NAME.test(options.name)) {
    throw new LabError(`lab name "${options.name}" is invalid: use 2-31 lowercase letters, digits or "-", starting with a letter`);
  }
  if (!Number.isInteger(options.nodes) || options.nodes < 2 || options.nodes > 8) {
    throw new LabError(`--nodes ${options.nodes} is out of range: the lab runs 2 to 8 nodes`);
  }
  if (!Number.isInteger(options.nice) || options.nice < -20 || options.nice > 19) {
    throw new LabError(`niceness ${options.nice} is out of range: use a whole number from -20 to 19`);
  }
  if (options.copies !== 1 && options.copies !== 2) {
    throw new LabError(`${options.copies} replica copies is not supported: the lab runs 1, the benchmark 2`);
  }
  const name = options.name;
  const cgroupRoot = path.join(CGROUP_UNIFIED, name);
  const dir = path.join(RUN_DIR, name);
  const nodes: NodePlan[] = Array.from({ length: options.nodes }, (_, i) => ({
    index: i,
    name: `lab-node-${i + 1}`,
    netns: `${name}-node-${i + 1}`,
    fabricIp: `198.19.0.${i + 1}`,
    podCidr: `198.19.${i + 1}.0/24`,
    gateway: `198.19.${i + 1}.1`,
    cgroup: path.join(cgroupRoot, `lab-node-${i + 1}`),
    agentAddress: `${options.agentLoopback}.${i + 1}:4244`,
  }));
  const pods: PodPlan[] = [];
  // Two nodes use the fixed placement (half the calls cross nodes); more nodes get the services round-robin.
  const nodeOf = (fixed: number, i: number) => nodes[nodes.length === 2 ? fixed : i % nodes.length];
  const pod = (app: string, node: NodePlan, host: number, netns: string, cgroupParent: string, copy?: string) => {
    const podName = `${app}-${podSuffix(name, copy ? `${copy}/${app}` : app)}`;
    return { name: podName, app, node, netns, ip: `198.19.${node.index + 1}.${host}`, hostVeth: `veth${host}`, cgroup: path.join(cgroupParent, podName), copy };
  };
  if (options.copies === 1) {
    const nextHost = nodes.map(() => 10);
    SERVICES.forEach((s, i) => {
      const node = nodeOf(s.node, i);
      pods.push({ ...pod(s.name, node, nextHost[node.index]++, `${name}-${s.name}`, node.cgroup), service: { ...s, clusterIp: `198.19.100.${10 + i}` } });
    });
    const node = nodes[LOADGENERATOR.node];
    pods.push(pod(LOADGENERATOR.name, node, nextHost[node.index]++, `${name}-${LOADGENERATOR.name}`, node.cgroup));
  } else {
    // Copy k takes pod addresses from .10 + 40k on each node and Service addresses from 198.19.(100 + k).0/24.
    COPIES.forEach((copy, k) => {
      const nextHost = nodes.map(() => 10 + 40 * k);
      SERVICES.forEach((s, i) => {
        const node = nodeOf(s.node, i);
        pods.push({
          ...pod(s.name, node, nextHost[node.index]++, `${name}-${copy}-${s.name}`, path.join(node.cgroup, copy), copy),
          service: { ...s, clusterIp: `198.19.${100 + k}.${10 + i}` },
        });
      });
    });
    const node = nodes[LOADGENERATOR.node];
    pods.push(pod(LOADGENERATOR.name, node, 90, `${name}-${LOADGENERATOR.name}`, path.join(node.cgroup, SHARED)));
  }
  return {
    options,
    dir,
    stateFile: path.join(RUN_DIR, `${name}.json`),
    metadataFile: path.join(dir, "metadata.json"),
    cgroupRoot,
    systemCgroup: path.join(cgroupRoot, "system"),
    fabricNetns: `${name}-fabric`,
    externalNetns: `${name}-external`,
    nodes,
    pods,
    copies: options.copies === 2 ? [...COPIES] : [],
  };
}

/** A copy's Service range (two-copy plans): what the shared load generator's sidecar intercepts for that copy. */
export function copyServiceCidr(plan: LabPlan, copy: string): string {
  const k = plan.copies.indexOf(copy);
  if (k < 0) throw new LabError(`lab plan has no replica copy "${copy}" (copies: ${plan.copies.join(", ") || "one, unnamed"})`);
  return `198.19.${100 + k}.0/24`;
}

/** The cgroup directory holding `copy`'s pods on `node` (an agent's --cgroup-root when it observes that copy). */
export function copyCgroup(node: NodePlan, copy: string): string {
  return path.join(node.cgroup, copy);
}

/** The pod of `app` (in `copy`, when the plan has two; the shared load generator belongs to none). */
export function podByApp(plan: LabPlan, app: string, copy?: string): PodPlan {
  const pod = plan.pods.find((p) => p.app === app && p.copy === copy);
  if (!pod) throw new LabError(`lab plan has no pod for "${app}"${copy ? ` in copy ${copy}` : ""}`);
  return pod;
}

export { NAMESPACE };
