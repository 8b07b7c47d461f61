// Network namespaces, bridges and veths: a "fabric" bridge joins the node
// namespaces and the external host; each node has its own pod bridge with no
// uplink; each pod is a namespace with one veth on its node's bridge.
import { EXTERNAL_FABRIC_IP, INTERNET_HOST, PEERED_HOST, type LabPlan, type NodePlan, type PodPlan } from "./plan";
import type { StateFile } from "./state";
import { ip, run } from "./system";

function addNetns(state: StateFile, name: string): void {
  state.update((s) => s.netns.push(name));
  ip("netns", "add", name);
  // The lab is IPv4-only; without this every link sends IPv6 router solicitations.
  sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1");
  sysctl(name, "net.ipv6.conf.default.disable_ipv6", "1");
  ip("-n", name, "link", "set", "lo", "up");
}

function sysctl(netns: string, key: string, value: string): void {
  run("ip", ["netns", "exec", netns, "sysctl", "-qw", `${key}=${value}`]);
}

/** A veth pair from (netnsA, nameA) to (netnsB, nameB), both ends up. */
function veth(state: StateFile, a: [string, string], b: [string, string]): void {
  state.update((s) => s.links.push(`${a[0]}/${a[1]}`, `${b[0]}/${b[1]}`));
  ip("-n", a[0], "link", "add", a[1], "type", "veth", "peer", "name", b[1], "netns", b[0]);
  ip("-n", a[0], "link", "set", a[1], "up");
  ip("-n", b[0], "link", "set", b[1], "up");
}

export function createFabric(plan: LabPlan, state: StateFile): void {
  addNetns(state, plan.fabricNetns);
  state.update((s) => s.links.push(`${plan.fabricNetns}/fabric`));
  ip("-n", plan.fabricNetns, "link", "add", "fabric", "type", "bridge");
  ip("-n", plan.fabricNetns, "link", "set", "fabric", "up");

  addNetns(state, plan.externalNetns);
  veth(state, [plan.externalNetns, "eth0"], [plan.fabricNetns, "ext"]);
  ip("-n", plan.fabricNetns, "link", "set", "ext", "master", "fabric");
  ip("-n", plan.externalNetns, "addr", "add", `${EXTERNAL_FABRIC_IP}/24`, "dev", "eth0");
  ip("-n", plan.externalNetns, "addr", "add", `${PEERED_HOST}/32`, "dev", "lo");
  ip("-n", plan.externalNetns, "addr", "add", `${INTERNET_HOST}/32`, "dev", "lo");
  // The peered network knows the pod ranges (as a peered VPC would); replies to
  // masqueraded traffic only need the fabric route.
  for (const node of plan.nodes) ip("-n", plan.externalNetns, "route", "add", node.podCidr, "via", node.fabricIp);
}

export function createNode(plan: LabPlan, state: StateFile, node: NodePlan): void {
  addNetns(state, node.netns);
  sysctl(node.netns, "net.ipv4.ip_forward", "1");
  veth(state, [node.netns, "eth0"], [plan.fabricNetns, `n${node.index + 1}`]);
  ip("-n", plan.fabricNetns, "link", "set", `n${node.index + 1}`, "master", "fabric");
  ip("-n", node.netns, "addr", "add", `${node.fabricIp}/24`, "dev", "eth0");
  state.update((s) => s.links.push(`${node.netns}/cbr0`));
  ip("-n", node.netns, "link", "add", "cbr0", "type", "bridge");
  ip("-n", node.netns, "addr", "add", `${node.gateway}/24`, "dev", "cbr0");
  ip("-n", node.netns, "link", "set", "cbr0", "up");
  for (const other of plan.nodes) {
    if (other !== node) ip("-n", node.netns, "route", "add", other.podCidr, "via", other.fabricIp);
  }
  ip("-n", node.netns, "route", "add", "default", "via", EXTERNAL_FABRIC_IP);
}

export function createPod(state: StateFile, pod: PodPlan): void {
  addNetns(state, pod.netns);
  veth(state, [pod.node.netns, pod.hostVeth], [pod.netns, "eth0"]);
  ip("-n", pod.node.netns, "link", "set", pod.hostVeth, "master", "cbr0");
  ip("-n", pod.netns, "addr", "add", `${pod.ip}/24`, "dev", "eth0");
  ip("-n", pod.netns, "route", "add", "default", "via", pod.node.gateway);
}

export function deleteNetns(name: string): void {
  run("ip", ["netns", "del", name]);
}

export function existingNetns(): Set<string> {
  return new Set(
    ip("netns", "list")
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter(Boolean),
  );
}
