/**
 * Where the agent reads egress NAT bindings. Netfilter binds a connection's source NAT on its first packet
 * at POSTROUTING and confirms its conntrack right after. Three sources, cheapest first:
 * - conntrack: conntrack's own new-connection events (netlink), one message per connection and no program
 *   on the packet path; in the namespaces where NAT happens.
 * - netfilter: a netfilter program hooked right after source NAT (Linux 6.4+), which runs for every packet
 *   routed through those namespaces (bridged ones too where bridge-nf-call-iptables is set).
 * - tracepoint: net_dev_queue, which runs for every packet queued on any device of the node, in every
 *   namespace (for an agent that cannot enter the namespace where NAT happens).
 */
import type { NativeBpfObject, NativeConntrackEvents, NativeModule } from "./native";

export const NAT_NETFILTER_PROGRAM = "fl_nat_post";
export const NAT_TRACEPOINT_PROGRAM = "fl_nat_xmit";
export type NatHook = "conntrack" | "netfilter" | "tracepoint";
export const NAT_HOOKS: readonly NatHook[] = ["conntrack", "netfilter", "tracepoint"];

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

function attachNetfilter(obj: NativeBpfObject, netnsPaths: readonly string[]): number[] {
  const attachments: number[] = [];
  try {
    for (const netns of netnsPaths.length > 0 ? netnsPaths : [""]) {
      for (const pf of [NFPROTO_IPV4, NFPROTO_IPV6]) attachments.push(attachAfterSourceNat(obj, pf, netns));
    }
  } catch (err) {
    for (const id of attachments) obj.detach(id);
    throw err;
  }
  return attachments;
}

export interface EgressNatSource {
  hook: NatHook;
  /** Program attachments (netfilter, tracepoint). */
  attachments: number[];
  /** The event subscription (conntrack): closed with the capture, drained before each flush. */
  events: NativeConntrackEvents | null;
}

/**
 * Starts reading NAT bindings from `hook` in each of `netnsPaths` (empty: this process's own namespace).
 * "auto" takes conntrack events, else the netfilter program where the kernel loaded it, else the
 * tracepoint. Conntrack records reach `onRecords` as the kernel's record bytes. Throws saying which
 * namespace failed; nothing stays attached or subscribed then.
 */
export function startEgressNat(
  native: NativeModule,
  obj: NativeBpfObject,
  netnsPaths: readonly string[],
  hook: "auto" | NatHook,
  onRecords: (records: Buffer, count: number) => void,
): EgressNatSource {
  if (hook === "conntrack" || hook === "auto") {
    try {
      return { hook: "conntrack", attachments: [], events: new native.ConntrackEvents([...netnsPaths], onRecords) };
    } catch (err) {
      // A namespace that cannot be entered fails every hook alike: say so rather than fall back.
      if (hook === "conntrack" || /cannot (open|enter) network namespace/.test((err as Error).message)) throw err;
    }
  }
  if (hook === "netfilter" && !obj.programLoaded(NAT_NETFILTER_PROGRAM)) {
    throw new Error(`the netfilter NAT hook needs Linux 6.4 or later (this kernel did not load ${NAT_NETFILTER_PROGRAM}); use conntrack or the tracepoint`);
  }
  if (hook === "tracepoint" || !obj.programLoaded(NAT_NETFILTER_PROGRAM)) {
    return { hook: "tracepoint", attachments: [obj.attachTracing(NAT_TRACEPOINT_PROGRAM)], events: null };
  }
  return { hook: "netfilter", attachments: attachNetfilter(obj, netnsPaths), events: null };
}
