// Turns kernel records into Hubble flows. Direction and reply follow Hubble:
// `traffic_direction` is the direction of the connection relative to the local
// pod (a server's replies are INGRESS traffic), and `is_reply` says whether the
// flow's source is the side that answered.
import { randomUUID } from "node:crypto";
import type { KernelRecord } from "../kernel/record";
import type { Endpoint, Flow, Layer4, TCPFlags, TrafficDirection } from "../../proto/types";
import { timestampFromNanos } from "../../proto/types";
import type { Enrichment, PodInfo } from "../enrichment/types";
import { ConnectionTable, type Endpoint4 } from "./connection-table";
import { HUBBLE_DROP_REASON_CODES, hubbleDropReason } from "./drop-reasons";

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

/** Hubble's monitor event types and trace observation points, for `event_type`. */
export const EVENT_TYPE_DROP = 1;
export const EVENT_TYPE_TRACE = 4;
export const TRACE_TO_ENDPOINT = 0;
export const TRACE_FROM_ENDPOINT = 5;

const ICMP_ECHO_REQUEST = new Set([8, 128]);
const ICMP_ECHO_REPLY = new Set([0, 129]);

const FLAG_BITS: [keyof TCPFlags, number][] = [
  ["FIN", 0x01],
  ["SYN", 0x02],
  ["RST", 0x04],
  ["PSH", 0x08],
  ["ACK", 0x10],
  ["URG", 0x20],
  ["ECE", 0x40],
  ["CWR", 0x80],
];

// Small immutable parts that repeat across flows are shared rather than allocated per flow.
const FLAGS_BY_BITS: TCPFlags[] = Array.from({ length: 256 }, (_, bits) => {
  const flags: TCPFlags = {};
  for (const [name, bit] of FLAG_BITS) if (bits & bit) flags[name] = true;
  return Object.freeze(flags);
});
const IS_REPLY = Object.freeze({ value: true });
const IS_REQUEST = Object.freeze({ value: false });
const eventTypes = new Map<number, { type: number; sub_type: number }>();

function eventType(type: number, subType: number): { type: number; sub_type: number } {
  const key = type * 65536 + subType;
  let e = eventTypes.get(key);
  if (!e) {
    e = Object.freeze({ type, sub_type: subType });
    eventTypes.set(key, e);
  }
  return e;
}

export function tcpFlagsOf(bits: number): TCPFlags {
  return FLAGS_BY_BITS[bits & 0xff];
}

// Flows are never modified after they are built, so every flow of a pod shares one Endpoint: a full
// ring then holds one copy of each pod's labels, not one per flow.
const endpoints = new WeakMap<PodInfo, Endpoint>();
const NO_ENDPOINT: Endpoint = Object.freeze({});

function endpointOf(pod: PodInfo | undefined): Endpoint {
  if (!pod) return NO_ENDPOINT;
  let ep = endpoints.get(pod);
  if (!ep) {
    ep = Object.freeze({
      namespace: pod.namespace,
      pod_name: pod.name,
      labels: Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`),
      workloads: pod.workloads.map((w) => ({ name: w.name, kind: w.kind })),
    });
    endpoints.set(pod, ep);
  }
  return ep;
}

function flip(d: TrafficDirection): TrafficDirection {
  return d === "INGRESS" ? "EGRESS" : d === "EGRESS" ? "INGRESS" : d;
}

const PACKET_KINDS = new Set(["flow_start", "tcp_flags", "flush"]);
const SOCKET_KINDS = new Set(["sock_open", "sock_established", "sock_close", "retransmit"]);

export interface FlowBuilderOptions {
  nodeName: string;
  enrichment: Enrichment;
  /** Connections remembered for reply detection and per-flow ICMP types. @default 131072 */
  connectionCapacity?: number;
}

export class FlowBuilder {
  private readonly connections: ConnectionTable;
  private readonly icmpTypes = new Map<string, { type: number; code: number }>();
  private readonly capacity: number;

  constructor(private readonly options: FlowBuilderOptions) {
    this.capacity = options.connectionCapacity ?? 131072;
    this.connections = new ConnectionTable(this.capacity);
  }

  build(r: KernelRecord): Flow {
    const src: Endpoint4 = { ip: r.srcAddr, port: r.srcPort };
    const dst: Endpoint4 = { ip: r.dstAddr, port: r.dstPort };
    const icmp = this.icmpOf(r);
    const isReply = this.replyStatus(r, src, dst, icmp?.type);
    const packetDirection: TrafficDirection = r.direction === "ingress" ? "INGRESS" : r.direction === "egress" ? "EGRESS" : "TRAFFIC_DIRECTION_UNKNOWN";
    // Socket records are already oriented by connection; packet records flip for replies.
    const direction = SOCKET_KINDS.has(r.kind) || isReply !== true ? packetDirection : flip(packetDirection);

    // The cgroup names the local pod reliably (host-network pods share IPs); the IP names the peer.
    const local = r.cgroupId !== 0n ? this.options.enrichment.podByCgroup(r.cgroupId) : undefined;
    const localIsSource = SOCKET_KINDS.has(r.kind) || r.direction === "egress";
    const srcPod = (localIsSource ? local : undefined) ?? this.options.enrichment.podByIp(r.srcAddr);
    const dstPod = (!localIsSource ? local : undefined) ?? this.options.enrichment.podByIp(r.dstAddr);
    const srcService = this.options.enrichment.serviceByIp(r.srcAddr);
    const dstService = this.options.enrichment.serviceByIp(r.dstAddr);

    const dropped = r.kind === "drop";
    const dropReason = dropped ? hubbleDropReason(r.dropReasonName) : undefined;
    const packetFlags = r.kind === "flow_start" || r.kind === "tcp_flags" || dropped ? r.tcpFlagsNow : r.tcpFlags;

    const flow: Flow = {
      time: timestampFromNanos(r.timeNs),
      uuid: randomUUID(),
      verdict: dropped ? "DROPPED" : "FORWARDED",
      IP: { source: r.srcAddr, destination: r.dstAddr, ipVersion: r.family === 6 ? "IPv6" : "IPv4" },
      l4: this.layer4(r, packetFlags, icmp),
      source: endpointOf(srcPod),
      destination: endpointOf(dstPod),
      Type: "L3_L4",
      node_name: this.options.nodeName,
      event_type: dropped
        ? eventType(EVENT_TYPE_DROP, HUBBLE_DROP_REASON_CODES[dropReason!])
        : eventType(EVENT_TYPE_TRACE, r.direction === "ingress" ? TRACE_TO_ENDPOINT : TRACE_FROM_ENDPOINT),
      traffic_direction: direction,
      flowlens: {
        packets: r.packets,
        bytes: r.bytes,
        event: r.kind,
      },
    };
    if (isReply !== undefined) {
      flow.is_reply = isReply ? IS_REPLY : IS_REQUEST;
      flow.reply = isReply;
    }
    if (dropped) {
      flow.drop_reason = HUBBLE_DROP_REASON_CODES[dropReason!];
      flow.drop_reason_desc = dropReason as never;
      flow.flowlens!.kernel_drop_reason = r.dropReasonName;
    }
    if (srcService) flow.source_service = { namespace: srcService.namespace, name: srcService.name };
    if (dstService) flow.destination_service = { namespace: dstService.namespace, name: dstService.name };
    if (r.ifindex) flow.interface = { index: r.ifindex };
    if (r.sockCookie) flow.socket_cookie = Number(r.sockCookie);
    if (r.cgroupId) flow.cgroup_id = Number(r.cgroupId);
    if (r.firstSeenNs) flow.flowlens!.first_seen = timestampFromNanos(r.firstSeenNs);
    if (r.lastSeenNs) flow.flowlens!.last_seen = timestampFromNanos(r.lastSeenNs);
    if (SOCKET_KINDS.has(r.kind)) {
      // Socket counters are the local socket's: it is this flow's source.
      flow.flowlens!.bytes_sent = r.bytesAcked;
      flow.flowlens!.bytes_received = r.bytesReceived;
      flow.flowlens!.srtt_us = r.srttUs;
      flow.flowlens!.retransmits = r.totalRetrans;
      if (r.connectLatencyNs) flow.flowlens!.connect_latency_ns = r.connectLatencyNs;
    }
    return flow;
  }

  /** ICMP type and code: carried by the flow's first record, remembered for its later ones. */
  private icmpOf(r: KernelRecord): { type: number; code: number } | undefined {
    if (r.protocol !== IPPROTO_ICMP && r.protocol !== IPPROTO_ICMPV6) return undefined;
    const key = `${r.protocol}|${r.srcAddr}|${r.dstAddr}|${r.srcPort}|${r.dstPort}|${r.cgroupId}|${r.direction}`;
    if (r.kind === "flow_start" || r.kind === "drop") {
      const value = { type: r.icmpType, code: r.icmpCode };
      this.icmpTypes.delete(key);
      this.icmpTypes.set(key, value);
      if (this.icmpTypes.size > this.capacity) this.icmpTypes.delete(this.icmpTypes.keys().next().value!);
      return value;
    }
    return this.icmpTypes.get(key);
  }

  private replyStatus(r: KernelRecord, src: Endpoint4, dst: Endpoint4, icmpType: number | undefined): boolean | undefined {
    const proto = r.protocol;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      // Echo id sits in different places for requests and replies; the address pair is enough.
      const a = { ip: src.ip, port: 0 };
      const b = { ip: dst.ip, port: 0 };
      if (icmpType !== undefined && ICMP_ECHO_REQUEST.has(icmpType)) this.connections.setInitiator(proto, a, b, a);
      else if (icmpType !== undefined && ICMP_ECHO_REPLY.has(icmpType)) this.connections.setInitiator(proto, a, b, b);
      return r.kind === "drop" ? this.connections.isReply(proto, a, b) : this.connections.isReplyOrOpen(proto, a, b);
    }
    if (SOCKET_KINDS.has(r.kind)) {
      // Socket records: src is the local socket; a server socket (ingress) is the answering side.
      const initiator = r.direction === "ingress" ? dst : src;
      this.connections.setInitiator(proto, src, dst, initiator);
      return r.direction === "ingress";
    }
    if (proto === IPPROTO_TCP && r.kind !== "drop" && r.tcpFlagsNow & TCP_SYN) {
      this.connections.setInitiator(proto, src, dst, r.tcpFlagsNow & TCP_ACK ? dst : src);
    }
    if (r.kind === "drop") return this.connections.isReply(proto, src, dst);
    if (PACKET_KINDS.has(r.kind) && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP)) {
      // A TCP flow first seen mid-stream (agent started late) without SYN: guess the first sender.
      return this.connections.isReplyOrOpen(proto, src, dst);
    }
    return this.connections.isReply(proto, src, dst);
  }

  private layer4(r: KernelRecord, flags: number, icmp: { type: number; code: number } | undefined): Layer4 {
    const ports = { source_port: r.srcPort, destination_port: r.dstPort };
    switch (r.protocol) {
      case IPPROTO_TCP:
        return { TCP: { ...ports, flags: tcpFlagsOf(flags) } };
      case IPPROTO_UDP:
        return { UDP: ports };
      case IPPROTO_SCTP:
        return { SCTP: ports };
      case IPPROTO_ICMP:
        return { ICMPv4: { type: icmp?.type ?? 0, code: icmp?.code ?? 0 } };
      case IPPROTO_ICMPV6:
        return { ICMPv6: { type: icmp?.type ?? 0, code: icmp?.code ?? 0 } };
      default:
        return {};
    }
  }
}

