// nftables rulesets the lab loads: egress NAT on each node, Service
// virtual IPs in each pod (the lab's stand-in for kube-proxy), and, in sidecar
// mode, Istio-style interception of every pod's inbound and outbound TCP.
import { CLUSTER_CIDR, type LabPlan, type NodePlan, type PodPlan } from "./plan";
import type { StateFile } from "./state";
import { nftIn } from "./system";

export const TABLE = "flowlens_lab";
/** The uid the sidecar proxy runs as; its own connections bypass interception (Istio uses 1337 too). */
export const SIDECAR_UID = 1337;
export const SIDECAR_OUTBOUND_PORT = 15001;
export const SIDECAR_INBOUND_PORT = 15006;

/** No SNAT inside the cluster or to the template's listed CIDRs; masquerade to the node address otherwise. */
export function nodeRuleset(node: NodePlan, noSnat: string[]): string {
  const elements = noSnat.length > 0 ? `elements = { ${noSnat.join(", ")} }` : "";
  return `table ip ${TABLE} {
  set no_snat { type ipv4_addr; flags interval; ${elements} }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${node.podCidr} ip daddr ${CLUSTER_CIDR} return
    ip saddr ${node.podCidr} ip daddr @no_snat return
    ip saddr ${node.podCidr} oifname "eth0" masquerade
  }
}
`;
}

/**
 * A pod's Service map (every copy's Services) and, with a sidecar, the interception rules. `interceptTo`
 * limits outbound interception to one range: the shared load generator of a two-copy lab sends through its
 * sidecar only what goes to the copy that has sidecars.
 */
export function podRuleset(plan: LabPlan, pod: PodPlan, sidecar: boolean, interceptTo?: string): string {
  const services = plan.pods
    .filter((p) => p.service)
    .map((p) => `${p.service!.clusterIp} . ${p.service!.port} : ${p.ip} . ${p.service!.targetPort}`);
  const destination = interceptTo ? `ip daddr ${interceptTo}` : "ip daddr != 127.0.0.0/8";
  const outboundRedirect = sidecar
    ? `    meta skuid != ${SIDECAR_UID} ${destination} meta l4proto tcp redirect to :${SIDECAR_OUTBOUND_PORT}\n`
    : "";
  const inbound = sidecar
    ? `  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "eth0" meta l4proto tcp tcp dport != { ${SIDECAR_OUTBOUND_PORT}, ${SIDECAR_INBOUND_PORT} } redirect to :${SIDECAR_INBOUND_PORT}
  }
`
    : "";
  return `table ip ${TABLE} {
  map services { type ipv4_addr . inet_service : ipv4_addr . inet_service; elements = { ${services.join(", ")} } }
  chain output {
    type nat hook output priority -100; policy accept;
${outboundRedirect}    meta l4proto tcp dnat ip to ip daddr . tcp dport map @services
  }
${inbound}}
`;
}

export function loadTable(state: StateFile, netns: string, ruleset: string): void {
  state.update((s) => s.nftTables.push({ netns, family: "ip", table: TABLE }));
  nftIn(netns, ruleset);
}

/** Replaces a pod's table (switching sidecar interception on or off). */
export function replacePodTable(netns: string, ruleset: string): void {
  nftIn(netns, `table ip ${TABLE}\ndelete table ip ${TABLE}\n${ruleset}`);
}
