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
  noSnatCidrs: [],
};

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
  const nextHost = nodes.map(() => 10);
  const pods: PodPlan[] = [];
  const place = (app: string, nodeIndex: number, service?: ServiceSpec, serviceIndex = 0) => {
    const node = nodes[nodeIndex];
    const podName = `${app}-${podSuffix(name, app)}`;
    const host = nextHost[node.index]++;
    pods.push({
      name: podName,
      app,
      node,
      netns: `${name}-${app}`,
      ip: `198.19.${node.index + 1}.${host}`,
      hostVeth: `veth${host}`,
      cgroup: path.join(node.cgroup, podName),
      service: service && { ...service, clusterIp: `198.19.100.${10 + serviceIndex}` },
    });
  };
  // Two nodes use the fixed placement (half the calls cross nodes); more nodes get the services round-robin.
  SERVICES.forEach((s, i) => place(s.name, nodes.length === 2 ? s.node : i % nodes.length, s, i));
  place(LOADGENERATOR.name, LOADGENERATOR.node);
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
  };
}

export function podByApp(plan: LabPlan, app: string): PodPlan {
  const pod = plan.pods.find((p) => p.app === app);
  if (!pod) throw new LabError(`lab plan has no pod for "${app}"`);
  return pod;
}

export { NAMESPACE };
