/**
 * Where the agent reads egress NAT bindings. Netfilter binds a connection's source NAT on its first packet
 * at POSTROUTING; a netfilter program hooked right after it (Linux 6.4+) sees that packet with its
 * conntrack, in the namespaces where NAT happens and for no other packet. Older kernels get the
 * net_dev_queue tracepoint instead, which runs for every packet queued on any device of the node.
 */
import type { NativeBpfObject } from "./native";

export const NAT_NETFILTER_PROGRAM = "fl_nat_post";
export const NAT_TRACEPOINT_PROGRAM = "fl_nat_xmit";
export type NatHook = "netfilter" | "tracepoint";

const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;
const NF_INET_POST_ROUTING = 4;
/** Just after source NAT (NF_IP_PRI_NAT_SRC is 100), so the conntrack holds the translated reply tuple. */
const AFTER_SOURCE_NAT = 101;
/**
 * The kernel takes one BPF link per priority on a hook (EBUSY for a second), and another capture may hold
 * 101 in the same namespace (a second agent, a test): the next free priority up to this many later is as good,
 * as nothing else of NAT runs between source NAT and conntrack's confirmation.
 */
const PRIORITIES_TRIED = 64;

function attachAfterSourceNat(obj: NativeBpfObject, pf: number, netns: string): number {
  for (let i = 0; ; i++) {
    try {
      return obj.attachNetfilter(NAT_NETFILTER_PROGRAM, pf, NF_INET_POST_ROUTING, AFTER_SOURCE_NAT + i, netns);
    } catch (err) {
      if (i + 1 >= PRIORITIES_TRIED || !/Device or resource busy/.test((err as Error).message)) throw err;
    }
  }
}

/**
 * Attaches the NAT reporting program: the netfilter hook in each of `netnsPaths` (empty: this process's
 * own namespace) where the kernel loaded it, the tracepoint otherwise (`hook` forces one; the tracepoint
 * sees every namespace, for hosts where NAT happens in many). Throws saying which namespace failed;
 * nothing stays attached then.
 */
export function attachEgressNat(obj: NativeBpfObject, netnsPaths: readonly string[], hook: "auto" | NatHook = "auto"): { hook: NatHook; attachments: number[] } {
  if (hook === "netfilter" && !obj.programLoaded(NAT_NETFILTER_PROGRAM)) {
    throw new Error(`the netfilter NAT hook needs Linux 6.4 or later (this kernel did not load ${NAT_NETFILTER_PROGRAM}); use the tracepoint`);
  }
  if (hook === "tracepoint" || !obj.programLoaded(NAT_NETFILTER_PROGRAM)) return { hook: "tracepoint", attachments: [obj.attachTracing(NAT_TRACEPOINT_PROGRAM)] };
  const attachments: number[] = [];
  try {
    for (const netns of netnsPaths.length > 0 ? netnsPaths : [""]) {
      for (const pf of [NFPROTO_IPV4, NFPROTO_IPV6]) attachments.push(attachAfterSourceNat(obj, pf, netns));
    }
  } catch (err) {
    for (const id of attachments) obj.detach(id);
    throw err;
  }
  return { hook: "netfilter", attachments };
}
