// Turns kernel records into Hubble flows. Direction and reply follow Hubble:
// `traffic_direction` is the direction of the connection relative to the local
// pod (a server's replies are INGRESS traffic), and `is_reply` says whether the
// flow's source is the side that answered.
import { randomBytes } from "node:crypto";
import type { RawRecords } from "../kernel/capture";
import { decodeRecordAt, type KernelRecord } from "../kernel/record";
import type { Endpoint, Flow, Layer4, TCPFlags, TrafficDirection } from "../../proto/types";
import { timestampFromNanos } from "../../proto/types";
import type { Enrichment, PodInfo, ServiceInfo } from "../enrichment/types";
import { BoundedMap } from "./bounded-map";
import { ConnectionTable, pairKey } from "./connection-table";
import { AddressIds } from "./flow-key-table";
import { HUBBLE_DROP_REASON_CODES, hubbleDropReason, type HubbleDropReason } from "./drop-reasons";

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

/** Hubble's monitor event types and trace observation points, for `event_type`. */
const EVENT_TYPE_DROP = 1;
const EVENT_TYPE_TRACE = 4;
const TRACE_TO_ENDPOINT = 0;
const TRACE_FROM_ENDPOINT = 5;

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

function tcpFlagsOf(bits: number): TCPFlags {
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

export function dropReasonOf(r: KernelRecord): HubbleDropReason | undefined {
  return r.kind === "drop" ? hubbleDropReason(r.dropReasonName) : undefined;
}

function trafficDirectionOf(r: KernelRecord, isReply: boolean | undefined): TrafficDirection {
  const packetDirection: TrafficDirection = r.direction === "ingress" ? "INGRESS" : r.direction === "egress" ? "EGRESS" : "TRAFFIC_DIRECTION_UNKNOWN";
  return SOCKET_KINDS.has(r.kind) || isReply !== true ? packetDirection : flip(packetDirection);
}

function tcpFlagBitsOf(r: KernelRecord): number {
  return r.kind === "flow_start" || r.kind === "tcp_flags" || r.kind === "drop" ? r.tcpFlagsNow : r.tcpFlags;
}

/** Where a ring entry reads its record again: a kernel batch's bytes, or a record kept as is (flushes). */
type RecordSource = KernelRecord | RawRecords;

/**
 * What the ring keeps per kernel record: where to read the record again plus everything resolved at
 * arrival (pods, services, reply status, ICMP type). Records from the ring buffer stay as the kernel's
 * bytes (shared per batch, outside the JS heap) and are decoded again only when read, so a full ring holds
 * no decoded records; the Hubble Flow is built on each read.
 */
export class FlowEntry {
  /** The source after egress NAT (nat-table.ts), set when the node's NAT binding for the connection is known. */
  sourceXlated: string | undefined = undefined;

  constructor(
    private readonly source: RecordSource,
    private readonly offset: number,
    readonly sourcePod: PodInfo | undefined,
    readonly destinationPod: PodInfo | undefined,
    readonly sourceService: ServiceInfo | undefined,
    readonly destinationService: ServiceInfo | undefined,
    readonly isReply: boolean | undefined,
    readonly icmp: { type: number; code: number } | undefined,
    private readonly ids: FlowIds,
    private readonly seq: number,
  ) {}

  /** The kernel record, decoded afresh from the batch's bytes on each call when it came from the ring buffer. */
  get record(): KernelRecord {
    const s = this.source;
    return "bootToWallNs" in s ? decodeRecordAt(s.bytes, this.offset, s.bootToWallNs) : s;
  }

  get dropped(): boolean {
    return this.record.kind === "drop";
  }

  get dropReason(): HubbleDropReason | undefined {
    return dropReasonOf(this.record);
  }

  /** Hubble's traffic direction: packet records flip for replies, socket records are already oriented by connection. */
  get trafficDirection(): TrafficDirection {
    return trafficDirectionOf(this.record, this.isReply);
  }

  /** Flags of the packet for packet events, every flag seen so far for flushes. */
  get tcpFlagBits(): number {
    return tcpFlagBitsOf(this.record);
  }

  /** A new Flow object on every call (never cached: the ring stays compact). */
  get flow(): Flow {
    const r = this.record;
    const dropReason = dropReasonOf(r);
    const flow: Flow = {
      time: timestampFromNanos(r.timeNs),
      uuid: this.ids.uuid(this.seq),
      verdict: dropReason ? "DROPPED" : "FORWARDED",
      IP: { source: r.srcAddr, destination: r.dstAddr, ipVersion: r.family === 6 ? "IPv6" : "IPv4" },
      l4: layer4(r, tcpFlagBitsOf(r), this.icmp),
      source: endpointOf(this.sourcePod),
      destination: endpointOf(this.destinationPod),
      Type: "L3_L4",
      node_name: this.ids.nodeName,
      event_type: dropReason
        ? eventType(EVENT_TYPE_DROP, HUBBLE_DROP_REASON_CODES[dropReason])
        : eventType(EVENT_TYPE_TRACE, r.direction === "ingress" ? TRACE_TO_ENDPOINT : TRACE_FROM_ENDPOINT),
      traffic_direction: trafficDirectionOf(r, this.isReply),
      flowlens: {
        packets: r.packets,
        bytes: r.bytes,
        event: r.kind,
      },
    };
    if (this.sourceXlated) {
      flow.IP!.source_xlated = this.sourceXlated;
      flow.flowlens!.source_xlated = this.sourceXlated;
    }
    if (this.isReply !== undefined) {
      flow.is_reply = this.isReply ? IS_REPLY : IS_REQUEST;
      flow.reply = this.isReply;
    }
    if (dropReason) {
      flow.drop_reason = HUBBLE_DROP_REASON_CODES[dropReason];
      flow.drop_reason_desc = dropReason as never;
      flow.flowlens!.kernel_drop_reason = r.dropReasonName;
    }
    if (this.sourceService) flow.source_service = { namespace: this.sourceService.namespace, name: this.sourceService.name };
    if (this.destinationService) flow.destination_service = { namespace: this.destinationService.namespace, name: this.destinationService.name };
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
}

/**
 * Flow UUIDs that stay the same on every read: a random prefix per agent run
 * and the entry's sequence number, in UUID form (version 4 and variant bits set).
 */
class FlowIds {
  private readonly prefix: string;

  constructor(readonly nodeName: string) {
    const hex = randomBytes(8).toString("hex");
    this.prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}`;
  }

  uuid(seq: number): string {
    const hex = seq.toString(16).padStart(15, "0");
    return `${this.prefix}-8${hex.slice(0, 3)}-${hex.slice(3)}`;
  }
}

export class FlowBuilder {
  private readonly connections: ConnectionTable;
  private readonly addresses = new AddressIds();
  private readonly icmpTypes: BoundedMap<string, { type: number; code: number }>;
  private readonly ids: FlowIds;
  private seq = 0;

  constructor(private readonly options: FlowBuilderOptions) {
    const capacity = options.connectionCapacity ?? 131072;
    this.connections = new ConnectionTable(capacity);
    this.icmpTypes = new BoundedMap(capacity);
    this.ids = new FlowIds(options.nodeName);
  }

  /**
   * Resolves a record in arrival order (reply tracking depends on it). With `raw`, the record's batch, the
   * entry keeps the record at byte `offset` of it rather than the decoded object.
   */
  build(r: KernelRecord, raw?: RawRecords, offset = 0): FlowEntry {
    const icmp = this.icmpOf(r);
    const isReply = this.replyStatus(r, icmp?.type);
    // The cgroup names the local pod reliably (host-network pods share IPs); the IP names the peer.
    const { enrichment } = this.options;
    const local = r.cgroupId !== 0n ? enrichment.podByCgroup(r.cgroupId) : undefined;
    const localIsSource = SOCKET_KINDS.has(r.kind) || r.direction === "egress";
    const srcPod = (localIsSource ? local : undefined) ?? enrichment.podByIp(r.srcAddr);
    const dstPod = (!localIsSource ? local : undefined) ?? enrichment.podByIp(r.dstAddr);
    return new FlowEntry(raw ?? r, offset, srcPod, dstPod, enrichment.serviceByIp(r.srcAddr), enrichment.serviceByIp(r.dstAddr), isReply, icmp, this.ids, ++this.seq);
  }

  /** ICMP type and code: carried by the flow's first record, remembered for its later ones. */
  private icmpOf(r: KernelRecord): { type: number; code: number } | undefined {
    if (r.protocol !== IPPROTO_ICMP && r.protocol !== IPPROTO_ICMPV6) return undefined;
    const key = `${r.protocol}|${r.srcAddr}|${r.dstAddr}|${r.srcPort}|${r.dstPort}|${r.cgroupId}|${r.direction}`;
    if (r.kind === "flow_start" || r.kind === "drop") {
      const value = { type: r.icmpType, code: r.icmpCode };
      this.icmpTypes.set(key, value);
      return value;
    }
    return this.icmpTypes.get(key);
  }

  private replyStatus(r: KernelRecord, icmpType: number | undefined): boolean | undefined {
    const proto = r.protocol;
    const t = this.connections;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      // Echo id sits in different places for requests and replies; the address pair is enough.
      const pair = pairKey(proto, this.addresses.endpoint(r.srcAddr, r.family, 0), this.addresses.endpoint(r.dstAddr, r.family, 0));
      if (icmpType !== undefined && ICMP_ECHO_REQUEST.has(icmpType)) t.setInitiator(pair, true);
      else if (icmpType !== undefined && ICMP_ECHO_REPLY.has(icmpType)) t.setInitiator(pair, false);
      return r.kind === "drop" ? t.isReply(pair) : t.isReplyOrOpen(pair);
    }
    const pair = pairKey(proto, this.addresses.endpoint(r.srcAddr, r.family, r.srcPort), this.addresses.endpoint(r.dstAddr, r.family, r.dstPort));
    if (SOCKET_KINDS.has(r.kind)) {
      // Socket records: the source is the local socket; a server socket (ingress) is the answering side.
      t.setInitiator(pair, r.direction !== "ingress");
      return r.direction === "ingress";
    }
    if (proto === IPPROTO_TCP && r.kind !== "drop" && r.tcpFlagsNow & TCP_SYN) t.setInitiator(pair, !(r.tcpFlagsNow & TCP_ACK));
    if (r.kind === "drop") return t.isReply(pair);
    if (PACKET_KINDS.has(r.kind) && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP)) {
      // A TCP flow first seen mid-stream (agent started late) without SYN: guess the first sender.
      return t.isReplyOrOpen(pair);
    }
    return t.isReply(pair);
  }
}

function layer4(r: KernelRecord, flags: number, icmp: { type: number; code: number } | undefined): Layer4 {
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
